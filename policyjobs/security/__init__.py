"""Who may do what: permissions, personal access tokens and the principal they name."""
