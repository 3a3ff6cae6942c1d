"""What every route shares: the app, auth, problems, pagination and JSON conventions."""
