"""The store: the database engine, the app's tables and the migrations."""
