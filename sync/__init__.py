"""doorstep.sync"""
