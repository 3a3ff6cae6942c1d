"""`python -m policyjobs`, the same as the `policyjobs` command."""

from policyjobs.cli import main

if __name__ == "__main__":  # render children re-import the main module; they must not run it
    main()
