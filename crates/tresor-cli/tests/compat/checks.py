"""The check step of the compat scripts run by the e2e tests (vault_hvac.py, eso_vault.py): one
line per check passed, and the script ends with status 1 at the first that fails."""

import sys

passed = 0


def check(cond, what):
    global passed
    if not cond:
        print(f"FAILED: {what}", flush=True)
        sys.exit(1)
    passed += 1
    print(f"ok {what}", flush=True)
