"""An emulation of pump.fun and PumpSwap creator fees for the sandbox chain (emulator.py)."""
