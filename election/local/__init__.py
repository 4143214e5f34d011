"""The embedded default: the whole multi-region election on one machine (DESIGN §4).

stack.py (LocalStack) wires it together: motoserver.py (moto in-process and
over HTTP) + moto_patches.py, the real deployer, gateway.py (API Gateway),
mappings.py (the event source mappings of the function contract: pollers.py for
SQS, streampoller.py for streams), replicator.py (global tables), router.py
(Route 53), static.py (the voting page), control.py (drills), lambdalogs.py
(function output to a file); local.json is election/statedir.py's.
devserver.py and demo.py are `election dev` and `election demo`; drill.py
decides which drill `election region down|up` runs (AWS or this stack).
"""
