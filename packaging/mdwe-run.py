#!/usr/bin/env python3
"""Runs a command with memory-deny-write-execute enforced by the kernel (PR_SET_MDWE, Linux 6.3+).

This is what systemd's MemoryDenyWriteExecute=yes forbids (no writable+executable mappings, no
mprotect that adds PROT_EXEC), applied without systemd so a run of the inference code here
shows whether the unit may keep that setting. The flag survives execve and is inherited by
threads and children. Usage: packaging/mdwe-run.py COMMAND [ARG...]
"""
import ctypes
import os
import sys

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1

if len(sys.argv) < 2:
    sys.exit(__doc__)
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    err = ctypes.get_errno()
    sys.exit(f"mdwe-run: prctl(PR_SET_MDWE) failed: {os.strerror(err)} (kernel older than 6.3?)")
os.execvp(sys.argv[1], sys.argv[1:])
