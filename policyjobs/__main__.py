"""`python -m policyjobs`, the same as the `policyjobs` command."""

from policyjobs.cli import main

if __name__ == "__main__":
    main()
