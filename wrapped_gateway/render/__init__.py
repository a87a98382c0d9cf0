"""`wrapped-gateway render`: manifests read from files (`manifests.py`, cut for parallel parsing
by `yaml_pieces.py`) and rendered by the same core the controller calls (`render.py`)."""
