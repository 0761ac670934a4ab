"""ValidationGate: the component (component.py) and its checks (checks.py)."""
