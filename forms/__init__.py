"""doorstep.forms"""
