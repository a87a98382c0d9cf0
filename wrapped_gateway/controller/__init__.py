"""The controller: a thin layer that moves data between the API server and the listener core."""
