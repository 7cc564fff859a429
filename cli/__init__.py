"""doorstep.cli"""
