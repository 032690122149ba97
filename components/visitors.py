"""Jobs that an aspect would do, run by one aspect per app.

Node calls an aspect for every construct in its scope, and each call crosses
to Python and back through jsii. The app has a few such jobs (key
administration, the tags of plain resources, session-logging grants, the keys
of log groups), and each wants one kind of construct. So one aspect at the
app's root visits each construct once and hands it to the jobs of its kind and
scope: a construct costs one crossing, not one per job, and the kind is
checked in Python, where it costs nothing. Registered jobs run as aspects do:
on every construct, those the CDK adds while synthesizing included.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import jsii
from aws_cdk import App, AspectPriority, Aspects, IAspect, Stack
from constructs import IConstruct

Job = Callable[[Any], None]


@jsii.implements(IAspect)
class _Visitors:
    def __init__(self) -> None:
        self._jobs: list[tuple[type, Stack | None, Job]] = []

    def add(self, kind: type, within: Stack | None, job: Job) -> None:
        self._jobs.append((kind, within, job))

    def visit(self, node: IConstruct) -> None:
        stacks: list[Stack] | None = None  # the node's stack and the stacks that stack is nested in
        for kind, within, job in self._jobs:
            if not isinstance(node, kind):
                continue
            if within is not None:
                if stacks is None:
                    stacks = _stacks_of(node)
                if not any(stack is within for stack in stacks):
                    continue
            job(node)


def _stacks_of(node: IConstruct) -> list[Stack]:
    stacks: list[Stack] = []
    stack: Stack | None = Stack.of(node)
    while stack is not None:
        stacks.append(stack)
        stack = stack.nested_stack_parent
    return stacks


_BY_APP: weakref.WeakKeyDictionary[IConstruct, _Visitors] = weakref.WeakKeyDictionary()


def visit_each(scope: App | Stack, kind: type, job: Job) -> None:
    """Call ``job`` on every construct of type ``kind`` in ``scope`` (an app, or one stack and the stacks
    nested in it), at synthesis, as a mutating aspect of ``scope`` would."""
    root = scope.node.root
    visitors = _BY_APP.get(root)
    if visitors is None:
        visitors = _BY_APP[root] = _Visitors()
        Aspects.of(root).add(visitors, priority=AspectPriority.MUTATING)
    visitors.add(kind, scope if isinstance(scope, Stack) else None, job)
