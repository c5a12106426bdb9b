"""The project's test library: helpers shared by the control node's tests (tests/) and the molecule verifier
(molecule/tests/). pytest.ini puts tests/ on the path, so both import it as ``fleettest``.

- ``wait``: the one way a test waits for something (``wait_for``), always with a timeout.
- ``certificates``: certificates the fleet never issued (an impostor CA, a stranger's key).
- ``scenario``: what the molecule scenario under test deployed, read from the inventory molecule wrote, and the skip
  marks that follow from it; ``converge`` re-runs site.yml on it.
- ``clients``: broker URLs, connections and Celery clients as the fleet's clients make them.
- ``faults``: the fault-injection suite's machinery.
"""
