"""Where writer-lock leases live. The engine knows this one index by name because a restart of
the embedded engine ends every run that held a lease, so it drops them (and never saves them)."""

LOCK_INDEX = "scholarflow-locks"
