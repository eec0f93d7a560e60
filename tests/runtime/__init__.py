"""Runtime layer: the server the program declares, started for real against PostgreSQL and an S3 server."""
