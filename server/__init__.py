"""doorstep.server"""
