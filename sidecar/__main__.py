"""``python -m sidecar``: the same as ``docline sidecar``."""

from sidecar.cli import app

if __name__ == "__main__":
    app()
