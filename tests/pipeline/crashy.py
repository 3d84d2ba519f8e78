"""Worker functions for the pool-recovery tests (importable by worker processes)."""

import os


def double_or_die(tasks):
    out = []
    for key, value in tasks:
        if value == "die":
            os._exit(3)  # what a segfaulting codec does to the worker
        out.append(value * 2)
    return out
