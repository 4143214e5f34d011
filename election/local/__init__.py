"""The embedded default: the whole multi-region election on one machine (DESIGN §4).

stack.py (LocalStack) wires it together: motoserver.py (moto in-process and
over HTTP) + moto_patches.py, the real deployer, gateway.py (API Gateway),
pollers.py (event source mappings), replicator.py (global tables), router.py
(Route 53), static.py (the voting page), control.py (drills), endpoints.py
(.election/local.json), lambdalogs.py (function output to a file).
devserver.py and demo.py are `election dev` and `election demo`; drill.py is
the AWS side of `election region down|up`.
"""
