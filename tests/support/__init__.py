"""Code the tests share: test domains and the processes they spawn."""
