"""The deploy rehearsal: ``cdk deploy`` of the IRIS stacks into moto on the loopback.

``python -m ops.rehearsal`` (``make rehearse``). The modules:

- ``moto_gaps``: the one place where moto is patched or given stand-ins, each
  gap documented where it is closed; also the emulator's entry point.
- ``emulator``: starts and stops that server on 127.0.0.1.
- ``assembly``: a copy of the cloud assembly with the placeholders swapped,
  and the coverage of each stack (modelled by moto, or a stand-in).
- ``rules``: evaluates a template's ``Rules`` as CloudFormation does.
- ``run``: the rehearsal itself.
"""
