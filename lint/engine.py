"""Run the selected rules over the body of one loss, in program order.

Statements are walked in order so that a name's facts are those of its latest assignment; each
statement's expressions are walked before its targets are bound.  Rules see every node of the
types they subscribe to, with ``ctx.ancestors`` (the enclosing expression nodes, innermost last).

    >>> import libcst as cst
    >>> from keras_bsguard.lint.module_index import ModuleIndex
    >>> from keras_bsguard.lint.losses import find_losses
    >>> from keras_bsguard.lint.rules import select_rules
    >>> module = cst.parse_module("def loss(y_true, y_pred):\\n    return y_pred.numpy()\\n")
    >>> index = ModuleIndex.build(module)
    >>> [r.code for r, *_ in analyze_loss(find_losses(index)[0], index, select_rules(["BSG701"]))]
    ['BSG701']
"""

from __future__ import annotations

import re
from dataclasses import replace
from types import SimpleNamespace

import libcst as cst

from .facts import (_COMPREHENSIONS, BATCH_SIZE_NAME, LOCAL_CRITERION, PRED, TRUE, UNTAINTED, Evaluator, Facts,
                    _text, join_facts, names_a_positive_parameter, nonzero_names, reducing_loss_class)
from .losses import LOSS_CLASS_METHODS, LossFunction, optional_labels_test, param_taints
from .rules._util import is_self_attribute, torch_only
from .rules.batch_loop import for_loop_over_the_batch, indexes_a_fixed_list
from .train_steps import called_networks, every_few_steps
from .module_index import (ModuleIndex, block_statements, criteria_by_reduction, local_bindings, local_criteria,
                           local_layers, maps_per_example, self_assignments, bound_names)
from .liveness import converts_to_host, dead_names, dead_statement, detaches
from .tree import children as tree_children
from .names import called_name, decorated_no_grad as _decorated_no_grad, decorator_names as _decorator_names, \
    dotted_parts, terminal_name
from .tree import all_nodes, contains, own_nodes
from .branch_reach import _NOT_A_LITERAL, branch_outcome, literal_text, training_test as _training_test
from .vocabulary import MARGIN_HEAD, TARGET_NAMES, normalise as normalize_name
from .lazy_re import compile_lazily

_BATCH_KEYWORDS = ("batch_size",)
# under ``torch.no_grad()`` nothing is differentiated, but a per-sample Python loop is still unrolled,
# a batch x batch matrix still takes its memory (hard-example mining) and a host copy still syncs:
# only these rules speak there
_COSTS_WITHOUT_GRADIENT = ("BSG101", "BSG601", "BSG701")
# rules about a value's numbers or its gradient: silent where the value is never used
_VALUE_RULES = ("BSG301", "BSG302", "BSG401", "BSG402")
# what a training loop's inline loss is read for: a step runs its networks, draws a GAN's noise and
# keeps state by design (BSG603, BSG201, BSG202, BSG702 are about a loss doing so), and its return values
# are metrics, not the loss. Host syncs only where the step is compiled (a Keras ``train_step``,
# ``@tf.function``, ``@jax.jit``): there ``.numpy()`` or ``float(loss)`` fails; an eager loop's
# per-step ``loss.item()`` is the logging every trainer does (judged so on library trainers)
_TRAIN_STEP_RULES = ("BSG101", "BSG401", "BSG402", "BSG501", "BSG601", "BSG603")
_COMPILING_DECORATORS = frozenset({"function", "jit", "pjit", "compile"})


class LossContext:
    """What a rule sees while one loss is analysed."""

    def __init__(self, loss: LossFunction, index: ModuleIndex, evaluator: Evaluator) -> None:
        self.loss = loss
        self.index = index
        self.evaluator = evaluator
        self.ancestors: list[cst.CSTNode] = []
        # (rule, node, message, related nodes: the other places of the same root cause)
        self.reports: list[tuple[object, cst.CSTNode, str, tuple]] = []
        self._reported: set[tuple[str, int]] = set()
        self.call_sites: dict | None = None
        self._reads_every_call: bool | None = None  # see callers_take
        # inside an ``if`` on a configuration value (``reduction == "sum"``): not the default path
        self.config_depth = 0
        self.off_default_depth = 0  # inside an option's branch that the defaults switch off
        self.on_default_depth = 0  # option branches (counted in config_depth) that the defaults take
        # inside ``with torch.no_grad():``: nothing there is differentiated
        self.no_grad_depth = 0
        # inside the value of an assignment whose names are never read (``y_std = sqrt(v)``, unused)
        self.dead_depth = 0
        # inside the value of an assignment whose names reach the loss only detached (a weight
        # matrix built and then ``.detach()``-ed): nothing there is differentiated
        self.grad_dead_depth = 0
        # inside ``if not model.training:`` (or the ``else`` of ``if self.training:``)
        self.eval_depth = 0
        # inside ``if tf.executing_eagerly():``: never runs in a compiled train step (no host sync there)
        self.eager_depth = 0
        self.opt_in_depth = 0  # inside the body of ``if self.option is not None:``: code the user opted into
        self.dump_depth = 0  # inside such a body that writes values out (``print(..., file=self.out)``)
        # in ``if random.random() < 0.001: logger.debug(...)``, its test included: a sampled log line
        self.sampled_log_depth = 0
        self.host_option_depth = 0  # inside a device switch's side the defaults do not take (``if self.cpu:``)
        self.cache_fill_depth = 0  # inside ``if self.mask is None: self.mask = ...``: run once, not every step
        # a train step the framework compiles (a Keras ``train_step``, ``@tf.function``, ``@jax.jit``)
        self.compiled_step = False
        # the loss runs once per example (``vmap(grad(loss_of_one))``): what it sums is one example's
        self.per_example = False
        # root cause -> [index of its report, places beyond the first, first message] (one cause, one finding)
        self.once: dict[str, list] = {}
        # (rule, node, key, more, message) of the weaker places, see report_fallback
        self.fallbacks: list[tuple] = []

    def facts(self, node: cst.BaseExpression) -> Facts:
        return self.evaluator.facts(node)

    def op(self, node: cst.Call):
        return self.evaluator.op(node)

    @property
    def in_config_branch(self) -> bool:
        return self.config_depth > 0

    @property
    def off_the_default_path(self) -> bool:
        """Under an option's branch that a call with the defaults does not (or may not) take: one
        the defaults switch off, or one whose default is unknown (a configuration value)."""
        return self.off_default_depth > 0 or self.config_depth > self.on_default_depth

    def _suppressed(self, rule, cost: bool = False) -> bool:
        """Whether a finding of ``rule`` at the current place is not reported (``cost``: the
        finding is a cost paid without gradient too, a teacher network's forward pass)."""
        if self.no_grad_depth and rule.code not in _COSTS_WITHOUT_GRADIENT and not cost \
                and not self._autograd_forward_sum(rule):
            return True  # code under no_grad is not part of the differentiated loss
        if self.no_grad_depth and self.loss.kind == "train-step" and not (cost and rule.code == "BSG603"):
            return True  # a training loop's ``with torch.no_grad():`` block: its evaluation, not the step
            # (but a teacher's forward there is paid on every step)
        if self.eval_depth:
            return True  # under ``if not self.training:``: evaluation code, never part of a train step
        if self.eager_depth and rule.code == "BSG701":
            return True  # under ``if tf.executing_eagerly():``: a compiled step never runs it
        if self.cache_fill_depth and (rule.code == "BSG101" or (rule.code == "BSG701" and torch_only(self))):
            # a cache filled when empty or stale: its loop and (in eager torch) its reads run once, not
            # every step (a compiled step traces the body: a host read there fails when traced)
            return True
        if self.host_option_depth and rule.code == "BSG701":
            return True  # ``if self.cpu: x = x.cpu()`` with ``cpu=False``: a move the user did not ask for
        if self.dump_depth and rule.code == "BSG701":
            return True  # an opt-in branch that writes predictions to a file: host values by design
        if self.sampled_log_depth and (rule.code in ("BSG201", "BSG202", "BSG701")
                                       or (rule.code == "BSG603" and self.loss.kind == "train-step")):
            return True  # a log line written on a random few steps: its draw and copies touch no loss
        # a value nothing reads: its inf or NaN reaches neither the loss nor the gradient
        return bool(self.dead_depth and rule.code in _VALUE_RULES)

    def undifferentiated(self) -> bool:
        """Whether the value at the current place reaches the loss only detached (under
        ``.detach()`` / ``stop_gradient`` here, or stored in names that reach the loss only that
        way, or read off to the host: ``x.var(0).sqrt().cpu().data.numpy()``, ``float(x.sqrt())`` in a
        log line): a gradient problem there (a square root's slope at 0) is never met."""
        if self.grad_dead_depth:
            return True
        return any((isinstance(node, cst.Call) and (detaches(node) or converts_to_host(node)))
                   or (isinstance(node, cst.Attribute) and node.attr.value == "data") for node in self.ancestors)

    def autograd_forward_scope(self) -> bool:
        """Directly in an autograd Function's ``forward`` (not under a further ``no_grad``): it
        runs without tracking, but what it returns is differentiated, by its ``backward``."""
        return self.loss.kind == "autograd" and self.no_grad_depth == 1 and self.loss.name.endswith(".forward")

    def _autograd_forward_sum(self, rule) -> bool:
        """A batch sum an autograd Function's ``forward`` returns is the loss value the caller
        trains on (its ``backward``, run per sample, scales with the batch the same way)."""
        return rule.code == "BSG501" and self.autograd_forward_scope()

    def report(self, rule, node: cst.CSTNode, message: str, related: tuple = (), cost: bool = False) -> None:
        if self._suppressed(rule, cost):
            return
        key = (rule.code, id(node))
        if key not in self._reported:
            self._reported.add(key)
            # related: other places of the same cause (the exp a hand-written log-sum-exp sums)
            self.reports.append((rule, node, message, tuple(r for r in related if r is not node)))

    def report_once(self, rule, node: cst.CSTNode, *, key: str, more: str, message: str,
                    cost: bool = False) -> None:
        """Report the first place of a root cause; later places only raise the count in its message."""
        entry = self.once.get(key)
        if entry is None:
            before = len(self.reports)
            self.report(rule, node, message, cost=cost)
            if len(self.reports) > before:
                self.once[key] = [before, 0, message]
            return
        if (self.no_grad_depth and rule.code not in _COSTS_WITHOUT_GRADIENT and not cost) or self.eval_depth:
            return
        index, extra, first_message = entry
        rule_, node_, _, related = self.reports[index]
        if node is node_ or any(node is other for other in related):
            return  # the same place, met again (backpropagated, then returned)
        entry[1] += 1
        extra = entry[1]
        self.reports[index] = (rule_, node_, f"{first_message} ({extra} more {more} in this loss)",
                               (*related, node))

    def report_fallback(self, rule, node: cst.CSTNode, *, key: str, more: str, message: str) -> None:
        """Like :meth:`report_once`, for a weaker place of a cause (``eye(B)`` next to the B x B
        similarity it masks): reported when the loss ends, first only if no stronger place of the
        cause was reported; otherwise one more place of it."""
        if not self._suppressed(rule):
            self.fallbacks.append((rule, node, key, more, message))

    def finish(self) -> list:
        """The reports of the loss, the fallback places added (see :meth:`report_fallback`)."""
        fallbacks, self.fallbacks = self.fallbacks, []
        for rule, node, key, more, message in fallbacks:
            self.report_once(rule, node, key=key, more=more, message=message)
        return self.reports

    def relate(self, key: str, node: cst.CSTNode) -> None:
        """Name ``node`` as a further place of the cause reported under ``key`` (the count in its
        message unchanged): the return that makes a batch sum the loss."""
        entry = self.once.get(key)
        if entry is None:
            return
        rule_, node_, message, related = self.reports[entry[0]]
        if node is not node_ and not any(node is other for other in related):
            self.reports[entry[0]] = (rule_, node_, message, (*related, node))

    def relate_to_report(self, code: str, reported: cst.CSTNode, node: cst.CSTNode) -> None:
        """Name ``node`` as a further place of the ``code`` finding reported at ``reported``
        (``Model(inputs=vgg.input, ...)`` beside the ``vgg = VGG16(...)`` it wraps)."""
        for index, (rule_, node_, message, related) in enumerate(self.reports):
            if rule_.code == code and node_ is reported and node is not node_ \
                    and not any(node is other for other in related):
                self.reports[index] = (rule_, node_, message, (*related, node))

    def record_call(self, node: cst.Call) -> None:
        """Remember what a call to a same-file helper passes, so the helper is read with those facts."""
        if self.call_sites is None or self.evaluator.op(node) is not None:
            return
        self._record_held_call(node)
        for info in _local_callees(node, self):
            params = [*info.node.params.posonly_params, *info.node.params.params]
            if info.class_info is not None and params and params[0].name.value in ("self", "cls"):
                params = params[1:]
            seen = self.call_sites.setdefault(id(info.node), {})
            # where the helper is called from: its findings name these places (the loss's own line)
            self.call_sites.setdefault(("calls", id(info.node)), []).append((self.loss.node, node))
            # a call that runs outside a training step: a branch no call takes, evaluation code
            # (under an option the defaults switch off: only for a private helper; a public one is
            # the library's API, which code elsewhere may call)
            self.call_sites.setdefault(("outside_training", id(info.node)), []).append(
                bool(self.eval_depth or (self.off_default_depth and info.name.startswith("_")
                                         and not info.name.startswith("__"))))
            positional = self._record_passed(seen, params, node)
            self._record_literals(info, node, params, positional)

    def _record_held_call(self, node: cst.Call) -> None:
        """``self.log_mag(pred_mag, true_mag)`` where ``__init__`` set ``self.log_mag =
        LogMagnitudeLoss()``, a class of this file: what this call passes to that loss's entry
        method, by parameter, and how many such calls there were (see :func:`_held_ranges`)."""
        func = node.func
        info = self.loss.info
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self") \
                or info is None or info.class_info is None or func.attr.value in info.class_info.methods:
            return
        held = self.index.held_classes(info.class_info).get(func.attr.value)
        entry = next((held.methods[m] for m in LOSS_CLASS_METHODS if m in held.methods), None) if held else None
        if entry is None:
            return
        params = [*entry.node.params.posonly_params, *entry.node.params.params][1:]
        passed = self.call_sites.setdefault(("held", id(entry.node)), {})
        passed[None] = passed.get(None, 0) + 1  # the calls counted, under a key no parameter has
        if not any(a.star for a in node.args):
            self._record_passed(passed, params, node)

    def _record_passed(self, seen: dict, params, node: cst.Call) -> list:
        """Append what ``node`` passes to each parameter (by position, then by keyword) to
        ``seen``; returns the positional arguments."""
        positional = [a for a in node.args if a.keyword is None and not a.star]
        for param, arg in zip(params, positional):
            seen.setdefault(param.name.value, []).append(self._passed(arg.value))
        for arg in node.args:
            if arg.keyword is not None:
                seen.setdefault(arg.keyword.value, []).append(self._passed(arg.value))
        return positional

    def _record_literals(self, info, node: cst.Call, params, positional) -> None:
        """The literal each parameter gets at this call (``backend="keras"``, a default left as it
        is), ``...`` where it is not a literal: a helper's branches that no call takes are read so."""
        passed = {param.name.value: arg.value for param, arg in zip(params, positional)}
        passed.update({a.keyword.value: a.value for a in node.args if a.keyword is not None})
        unknown = any(a.star for a in node.args)
        literals = self.call_sites.setdefault(("literals", id(info.node)), {})
        for param in [*params, *info.node.params.kwonly_params]:
            value = passed.get(param.name.value, param.default)
            literals.setdefault(param.name.value, []).append(... if unknown else self._literal_passed(value))

    def _literal_passed(self, value) -> object:
        """The literal text a call passes (see :func:`literal_text`), also where the caller hands on
        what it was given: its own parameter (never rebound; what it holds on every run the file
        shows, :func:`_literal_at_calls`; for a helper, the one literal every call of it passed), or
        ``self.ignore_index`` set in ``__init__`` from a parameter with a literal default (unless
        the file builds the class passing that keyword)."""
        text = literal_text(value)
        if text is not _NOT_A_LITERAL or self.loss.info is None:
            return text
        function = self.loss.info.node
        bindings = local_bindings(function) if isinstance(value, cst.Name) and isinstance(function, cst.FunctionDef) \
            else None
        if bindings is not None:  # (a name)
            bound = bindings.get(value.value)
            if bound is not None and len(bound) == 1 and bound[0] is not None:
                constant = literal_text(bound[0])  # resubs = True; log_softmax(x, resubs=resubs)
                if constant is not _NOT_A_LITERAL:
                    return constant
        if isinstance(value, cst.Name) and self.loss.kind != "helper":
            return _literal_at_calls(self.index, self.loss.info, value.value)
        if bindings is not None and value.value not in bindings and self.call_sites is not None:
            given = set(self.call_sites.get(("literals", id(function)), {}).get(value.value, ()))
            return given.pop() if len(given) == 1 else text
        if isinstance(value, cst.Attribute):
            default = _option_default(value, self.loss)
            if default is not _UNKNOWN and default is not None and not isinstance(default, cst.Attribute) \
                    and not _constructed_with(self.index, self.loss.info.class_info, _switch_name(value, self.loss)):
                return literal_text(default)
        return text

    def callers_take(self, test) -> bool | None:
        """Whether every call of this helper in the file takes the branch of ``test`` (True), none
        does (False), or it depends (None): ``if backend is None:`` when every call passes
        ``backend="keras"`` is never taken."""
        if self.loss.kind not in ("helper", "signature", "named") or self.call_sites is None:
            return None
        if self.loss.kind != "helper":
            return self._every_use_takes(test)
        literals = self.call_sites.get(("literals", id(self.loss.node)))
        if not literals:
            return None
        if self._reads_every_call is None:
            calls = len(next(iter(literals.values())))
            # every mention of the helper in the file, but its ``def``, is a call that was read: not
            # passed as a value (``partial(helper, ...)``), called at module level or by a function
            # that is no loss; and it does not rebind the parameters it is tested on
            self._reads_every_call = self.index.references(self.loss.name.rsplit(".", 1)[-1]) == calls + 1
        if not self._reads_every_call or _rebinds_parameters(self.loss.node, test):
            return None
        outcomes = {branch_outcome(test, {name: texts[i] for name, texts in literals.items()})
                    for i in range(min(len(texts) for texts in literals.values()))}
        return outcomes.pop() if len(outcomes) == 1 else None

    def _every_use_takes(self, test) -> bool | None:
        """Whether a loss of its own that the file's functions also call (Lovasz's
        ``flatten_binary_scores``) takes the branch of ``test`` (True) or not (False) both with its
        defaults (called from elsewhere) and at every call in the file, each read from the source:
        a literal, a default left as it is, or the calling function's own parameter handed on
        unchanged (its default). None where they differ or a call cannot be read (``*args``, a
        mention that is no plain call, no call at all)."""
        info = self.loss.info
        if info is None or info.class_info is not None or not isinstance(self.loss.node, cst.FunctionDef):
            return None
        node = self.loss.node
        params = [*node.params.posonly_params, *node.params.params]
        every = [*params, *node.params.kwonly_params]
        if _rebinds_parameters(node, test):
            return None
        runs = [{p.name.value: literal_text(p.default) if p.default is not None else ... for p in every}]
        calls = 0
        for caller, call in _calls_of(self.index, info):
            calls += 1
            if any(a.star for a in call.args):
                return None
            passed = {p.name.value: a.value for p, a in zip(params, [a for a in call.args if a.keyword is None])}
            passed.update({a.keyword.value: a.value for a in call.args if a.keyword is not None})
            run = {}
            for p in every:
                value = passed.get(p.name.value, p.default)
                text = literal_text(value) if value is not None else ...
                if text is _NOT_A_LITERAL and isinstance(value, cst.Name):
                    text = _literal_at_calls(self.index, caller, value.value)
                run[p.name.value] = text
            runs.append(run)
        if not calls or self.index.references(info.name) != calls + 1:
            return None
        outcomes = {branch_outcome(test, run) for run in runs}
        return outcomes.pop() if len(outcomes) == 1 else None

    def _passed(self, value) -> Facts:
        """What a call passes: under ``torch.no_grad()`` nothing of it is differentiated."""
        facts = self.facts(value)
        return replace(facts, nograd=True) if self.no_grad_depth else facts

    def reported_at(self, code: str, node) -> bool:
        """Whether ``node`` itself already carries a finding of ``code`` in this loss."""
        return (code, id(node)) in self._reported

    def already_reported_within(self, code: str) -> bool:
        """Whether an enclosing node already carries a finding of ``code`` (report the outermost only)."""
        return any((code, id(node)) in self._reported for node in self.ancestors)


def analyze_loss(loss: LossFunction, index: ModuleIndex, rules, call_sites: dict | None = None,
                 batch_sizes: set[int] | None = None, summaries=None) -> list[tuple[object, cst.CSTNode, str]]:
    """Findings ``(rule, node, message)`` for one loss.

    ``call_sites`` maps a helper's node id to the facts its callers passed per parameter: it is
    read for ``loss`` (when ``loss`` is a helper that was called) and extended by its calls.
    """
    from .summaries import HelperSummaries

    batch_sizes = batch_literals(index) if batch_sizes is None else batch_sizes
    compiled = loss.kind == "train-step" and _compiled_step(loss, index)
    if loss.kind == "train-step":
        rules = [rule for rule in rules if rule.code in _TRAIN_STEP_RULES or (compiled and rule.code == "BSG701")]
    if loss.kind in ("named", "signature") and _only_called_off_by_default(loss, index):
        return []
    if loss.kind == "helper" and call_sites is not None:
        outside = call_sites.get(("outside_training", id(loss.node)))
        # every mention of the helper in the file but its ``def`` is one of these calls (not a call
        # from a train step or module level, not passed as a value)
        if outside and all(outside) and index.references(loss.name.rsplit(".", 1)[-1]) == len(outside) + 1:
            # ``if kl: reg = KL_NIG(...)`` with ``kl=False`` on every call, or a helper only
            # ``if not self.training:`` calls: it never runs in a training step of the file's losses
            return []
    if "." not in loss.name and loss.name in index.host_callbacks():
        # a tf.py_function's Python function: host code, its conversions are no further syncs (the
        # loss's py_function call is the one host trip)
        rules = [rule for rule in rules if rule.code != "BSG701"]
    summaries = summaries or HelperSummaries(index, batch_sizes)
    evaluator = Evaluator(index.imports, loss.param_taints, index.int_constants, batch_sizes,
                          summarize=summaries.for_owner(loss.info))
    evaluator.runtime_attributes = index.runtime_batch_attributes()
    evaluator.layer_attributes = index.layer_attributes()
    evaluator.param_defaults = _numeric_defaults(loss.node)
    for name, default in evaluator.param_defaults.items():
        # ``relax=0.0``, ``margin=1.0``: a setting, taken to keep its default's sign
        held = evaluator.env.get(name)
        if held is not None and not held.taint and default >= 0:
            evaluator.env[name] = replace(held, nonneg=True, guarded=held.guarded or default > 0)
    evaluator.setting_signs = _attribute_setting_signs(loss)
    if call_sites is None or id(loss.node) not in call_sites:
        for name in _required_batch_size_params(loss):
            # info_nce(q, p, tau, batch_size) with no call in the file: given on every call, as
            # often the batch's own size as a configured one; only a default (batch_size=32), a
            # module constant or what the file's own calls pass is known to be fixed
            evaluator.env[name] = replace(evaluator.env[name], configured_batch=False)
    evaluator.module_loss_objects = _module_loss_objects(index, evaluator)
    if loss.kind == "train-step":
        evaluator.network_names = called_networks(loss.node)
    if loss.info is not None and loss.info.class_info is not None:
        evaluator.summed_criteria = loss.info.class_info.summed_criteria()
        evaluator.distance_criteria = loss.info.class_info.distance_criteria()
        evaluator.mean_criteria = loss.info.class_info.mean_criteria()
        evaluator.unreduced_criteria = loss.info.class_info.unreduced_criteria()
        evaluator.bounded_modules = {attr: kind for attr, kind in loss.info.class_info.bounded_modules().items()
                                     if not _swapped_elsewhere(attr, loss.info.class_info, index)}
    if isinstance(loss.node, cst.FunctionDef):
        _add_local_criteria(evaluator, _enclosing_criteria(loss))
        _add_local_criteria(evaluator, local_criteria(loss.node))
        evaluator.local_layers = local_layers(loss.node, index.imports)
    if call_sites is not None:
        enclosing = call_sites.get(("closure", id(loss.node)))
        if not enclosing and loss.kind == "factory":
            enclosing = _factory_arguments(loss, index)
        if enclosing:  # a nested def reads the enclosing loss's values
            for name, facts in enclosing.items():
                if name not in evaluator.env:
                    evaluator.env[name] = facts
    if call_sites is not None and id(loss.node) in call_sites and loss.kind in ("helper", "named"):
        # a helper, or a loss-named method another loss calls (``self.regularization_loss(p.mean(0))``)
        for name, passed in call_sites[id(loss.node)].items():
            if name in loss.host_params and name in evaluator.env and evaluator.env[name].configured_batch \
                    and passed and all((p.batch_dim or p.shape) and not p.configured_batch for p in passed):
                # ``batch_size: int`` given ``x.size(0) // 2`` by every call: an int, and a size of the batch
                evaluator.env[name] = replace(evaluator.env[name], configured_batch=False)
            if name not in loss.host_params:  # what the function says it takes beats what is passed
                joined = _join_all(passed)
                if name in evaluator.env and evaluator.env[name].batch_dim and not joined.taint:
                    # a batch_size parameter given a number (int(2 ** (r + k))): still the batch size
                    joined = replace(joined, batch_dim=True)
                evaluator.env[name] = joined
    for name, facts in _held_ranges(loss, index, call_sites).items():
        if name in evaluator.env:
            evaluator.env[name] = replace(evaluator.env[name], **facts)
    for name in _settings_passed_by_the_class(loss, index):
        if name in evaluator.env and evaluator.env[name].taint:
            evaluator.env[name] = UNTAINTED  # self.regular_loss(self.reg_weight): a configured number
    documented = (
        # a Python list of tensors, as documented: its length counts speakers or levels
        (loss.tensor_list_params, {"python_list": True, "maybe_list": True, "named_tensor": False}),
        # L2-normalised, as documented: entries in [-1, 1], dot products are cosines
        (loss.normalized_params, {"bounded": True}),
        # probabilities, as documented (a softmax's output): positive, in [0, 1]
        (loss.probability_params, {"probability": True, "nonneg": True, "bounded": True, "unit": True,
                                   "at_most_one": True}),
        # documented as PxVxNxC: axis 0 is not the batch (its rows are prototype layers, views)
        (loss.later_batch_params, {"no_batch_axis": True}),
        # one tensor, as documented: not a list of outputs, whatever its name
        (loss.tensor_params, {"maybe_list": False, "named_tensor": True}),
    )
    for names, documented_facts in documented:
        for name in names:
            if name in evaluator.env and evaluator.env[name].taint:
                evaluator.env[name] = replace(evaluator.env[name], **documented_facts)
    sized_by_a_table_count(loss.node, evaluator.env)  # n_classes = all_embs.size(0): a table, no batch axis
    # mapped per example, and used nowhere else (not also compiled as the loss of whole batches)
    per_example = one_example_per_call(loss.node, evaluator.env, loss.node.name.value in index.vmapped()
                                       and (loss.info is None or loss.info.class_info is None)
                                       and index.references(loss.node.name.value) <= 2
                                       if isinstance(loss.node, cst.FunctionDef) else False, index)
    ctx = LossContext(loss, index, evaluator)
    ctx.per_example = per_example
    ctx.call_sites = call_sites
    ctx.compiled_step = compiled
    # an autograd Function's forward and backward run with gradient tracking off (its backward is
    # the gradient): like code under ``torch.no_grad()``, only the costs apply
    ctx.no_grad_depth = int(_decorated_no_grad(loss.node) or loss.kind == "autograd")
    walker = _Walker(ctx, rules)
    if isinstance(loss.node, cst.Lambda):
        walker.expression(loss.node.body)
        walker.returned(loss.node.body)
    else:
        # (a module's own statements are not cut: a notebook's cells, joined, run one by one, and a
        # ``raise SystemExit`` cell stops "Run All" without making the later cells dead)
        walker.block(block_statements(loss.node.body), body=True, top_level=loss.name == "<module>")
    ctx.finish()
    if loss.region is not None:  # a training loop: only what runs on every step
        ctx.reports = [report for report in ctx.reports if any(contains(region, report[1]) for region in loss.region)]
    if loss.kind == "helper" and call_sites is not None and ctx.reports:
        calls = tuple(call_sites.get(("calls", id(loss.node)), ())[:_CALL_PLACES])
        if calls:  # a helper's finding also names the calls that run it (as (container, node) pairs)
            return [(rule, node, message, (*related, *calls)) for rule, node, message, related in ctx.reports]
    return ctx.reports


def _compiled_step(loss: LossFunction, index: ModuleIndex) -> bool:
    """A train step the framework compiles: a Keras model's ``train_step`` method, or a function
    decorated with ``tf.function``, ``jax.jit`` or ``torch.compile``."""
    if any(name in _COMPILING_DECORATORS for name in _decorator_names(loss.node)):
        return True
    # (mmengine's and Lightning's ``train_step`` of a torch model runs eagerly)
    return loss.info is not None and loss.info.class_info is not None and loss.info.name == "train_step" \
        and bool({qualified.split(".")[0] for qualified in index.imports.aliases.values()}
                 & {"tensorflow", "keras", "jax"})


def _required_batch_size_params(loss) -> list[str]:
    """The loss's parameters named for the batch size that have no default value."""
    params = getattr(loss.node, "params", None)
    if params is None:
        return []
    return [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)
            if p.default is None and BATCH_SIZE_NAME.match(p.name.value) and p.name.value in loss.param_taints]


def _enclosing_criteria(loss: LossFunction) -> dict[str, tuple[str, str]]:
    """Criteria the functions around a nested loss build and it reads (``mse =
    MeanSquaredError(reduction=Reduction.SUM)`` in the factory, ``def loss(y_true, y_pred): return
    mse(...)``), unless the loss binds the name itself."""
    own = {p.name.value for p in (*loss.node.params.posonly_params, *loss.node.params.params,
                                  *loss.node.params.kwonly_params)} | set(local_bindings(loss.node))
    found: dict[str, tuple[str, str]] = {}
    parent, depth = (loss.info.parent if loss.info is not None else None), 0
    while parent is not None and depth < 3:
        for name, value in local_criteria(parent.node).items():
            if name not in own and name not in found:
                found[name] = value
        parent, depth = parent.parent, depth + 1
    return found


def _add_local_criteria(evaluator: Evaluator, criteria: dict[str, tuple[str, str]]) -> None:
    """Criteria the loss builds itself (``mse = nn.MSELoss(size_average=False)``), read where it
    calls them as the class's ``self.<attr>`` ones are (keyed apart from those, see
    :data:`LOCAL_CRITERION`)."""
    if not criteria:
        return
    keyed = {LOCAL_CRITERION + name: value for name, value in criteria.items()}
    summed, distance, mean, unreduced = criteria_by_reduction(keyed)
    evaluator.summed_criteria = evaluator.summed_criteria | summed
    evaluator.distance_criteria = {**evaluator.distance_criteria, **distance}
    evaluator.mean_criteria = evaluator.mean_criteria | mean
    evaluator.unreduced_criteria = evaluator.unreduced_criteria | unreduced


def _numeric_defaults(function) -> dict[str, float]:
    """``gamma=2.0``, ``scale=-1``: the numbers a function's parameters default to."""
    if not isinstance(function, cst.FunctionDef):
        return {}
    found = {}
    params = function.params
    for param in (*params.params, *params.kwonly_params):
        default = param.default
        sign = 1.0
        if isinstance(default, cst.UnaryOperation) and isinstance(default.operator, cst.Minus):
            default, sign = default.expression, -1.0
        if isinstance(default, (cst.Integer, cst.Float)):
            found[param.name.value] = sign * float(default.evaluated_value)
    return found


def _attribute_setting_signs(loss: LossFunction) -> dict[str, int]:
    """``self.relax = relax`` in ``__init__(self, relax=0.0)``, ``self.k = 0.5``, ``self.gamma = -2.77
    / cn`` with ``cn=10``: an attribute ``__init__`` sets from numbers and its own numeric defaults,
    set nowhere else in the class -> the sign of its default value (1, 0 or -1).

        >>> from keras_bsguard.lint.module_index import ModuleIndex
        >>> index = ModuleIndex.build(cst.parse_module(
        ...     "class L:\\n    def __init__(self, relax=0.0, m=2, cn=10):\\n"
        ...     "        self.relax = relax\\n        self.m = m\\n        self.g = -2.77 / cn\\n        self.k = 0.5\\n"
        ...     "    def forward(self, x):\\n        return x\\n"))
        >>> info = index.classes["L"].methods["forward"]
        >>> sorted(_attribute_setting_signs(type("F", (), {"info": info})()).items())
        [('g', -1), ('k', 1), ('m', 1), ('relax', 0)]
    """
    info = loss.info
    if info is None or info.class_info is None or "__init__" not in info.class_info.methods:
        return {}
    found = info.class_info.__dict__.get("_setting_signs")  # one walk per class, for all its losses
    if found is not None:
        return found
    found = info.class_info.__dict__["_setting_signs"] = {}
    init = info.class_info.methods["__init__"].node
    defaults = _numeric_defaults(init)
    for node in own_nodes(init):
        if isinstance(node, cst.Assign) and len(node.targets) == 1 and is_self_attribute(node.targets[0].target):
            number = _default_value(node.value, defaults)
            if number is not None:
                found[node.targets[0].target.attr.value] = (number > 0) - (number < 0)
    for method in info.class_info.methods.values():
        for node in own_nodes(method.node):
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else \
                [node.target] if isinstance(node, (cst.AugAssign, cst.AnnAssign)) else []
            for target in targets:
                if is_self_attribute(target) and (method.node is not init or isinstance(node, cst.AugAssign)):
                    found.pop(target.attr.value, None)  # set again elsewhere: not a fixed setting
    return found


def _default_value(node, defaults: dict[str, float]) -> float | None:
    """The value of a number expression of literals and numeric defaults (``-2.77 / cn``), or None."""
    if isinstance(node, (cst.Integer, cst.Float)):
        return float(node.evaluated_value)
    if isinstance(node, cst.Name):
        return defaults.get(node.value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        inner = _default_value(node.expression, defaults)
        return None if inner is None else -inner if isinstance(node.operator, cst.Minus) else inner
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Subtract, cst.Multiply,
                                                                            cst.Divide)):
        left, right = _default_value(node.left, defaults), _default_value(node.right, defaults)
        if left is None or right is None or (isinstance(node.operator, cst.Divide) and right == 0):
            return None
        if isinstance(node.operator, cst.Add):
            return left + right
        if isinstance(node.operator, cst.Subtract):
            return left - right
        return left * right if isinstance(node.operator, cst.Multiply) else left / right
    return None


def _module_loss_objects(index: ModuleIndex, evaluator: Evaluator) -> frozenset[str]:
    """Module-level names bound to a reducing Keras loss object (``bce = BinaryCrossentropy()``),
    found once per module."""
    found = index.__dict__.get("_loss_objects")
    if found is None:
        found = frozenset(name for name in index.module_names
                          if isinstance(value := index.assignments.get(name), cst.Call)
                          and (op := evaluator.op(value)) is not None and reducing_loss_class(op))
        index.__dict__["_loss_objects"] = found
    return found


# how many of a helper's call sites its findings name
_CALL_PLACES = 3


def batch_literals(index: ModuleIndex) -> set[int]:
    """Batch sizes the file fixes elsewhere: ``fit(batch_size=32)`` and ``BATCH_SIZE = 32``."""
    found: set[int] = set()
    for call in index.fit_calls:
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value in _BATCH_KEYWORDS and isinstance(arg.value, cst.Integer):
                found.add(int(arg.value.evaluated_value))
    for name, value in index.int_constants.items():
        if "batch" in name.lower():
            found.add(value)
    return found


class _Walker:
    def __init__(self, ctx: LossContext, rules) -> None:
        self.ctx = ctx
        self.node_rules: dict[type, list] = {}
        self.statement_rules: dict[type, list] = {}
        self.return_rules = [r for r in rules if r.checks_return] if ctx.loss.returns_loss_value else []
        self.returns: list | None = None  # set to a list to collect the facts of returned values
        self.per_sample_loops: list[bool] = []  # the enclosing ``for`` loops: whether each walks the batch
        self.loop_targets: list = []  # and their targets
        self.loop_statements: list = []  # and the loops themselves, each with whether BSG101 reads it as one over the batch
        # names only assigned, or whose values reach neither the returned loss nor a gradient (they
        # silence reports only: a helper summary's walk, with no rules, does not need them)
        self.unread = unread_names(ctx.loss.node) | dead_names(ctx.loss.node) if rules else set()
        # names that reach the loss only through ``.detach()`` / ``stop_gradient``
        self.undifferentiated = dead_names(ctx.loss.node, gradient=True) - self.unread if rules else set()
        for rule in rules:
            for node_type in rule.node_types:
                self.node_rules.setdefault(node_type, []).append(rule)
            for statement_type in rule.statement_types:
                self.statement_rules.setdefault(statement_type, []).append(rule)

    # ---- statements ---------------------------------------------------------------------
    def block(self, statements, body: bool = False, top_level: bool = False) -> None:
        statements = list(statements)
        # print(loss); raise ValueError: runs only on failure (not a body whose returns come first)
        failing = _raises_at_end(statements, body)
        self.ctx.eval_depth += failing
        options = 0  # after ``if reduction == "none": return x``, the rest is another option
        outside = 0  # after a return every call in the file takes, the rest runs in no training step
        defaults_taken = 0  # after a return the loss's defaults take, the rest is off by default
        for statement in statements:
            self.statement(statement)
            if _leaves_the_block(statement) and not top_level:
                break  # what follows a return or raise in the same block never runs (left-over debugging)
            if isinstance(statement, cst.If) and statement.orelse is None and _exits(statement.body) \
                    and self.ctx.callers_take(statement.test) is True:
                # ``if ignore is None: return scores, labels`` when every call in the file leaves
                # ``ignore`` None: the rest of the block never runs in a training step
                self.ctx.eval_depth += 1
                outside += 1
            elif isinstance(statement, cst.If) and statement.orelse is None and _exits(statement.body) \
                    and self._defaults_take(statement.test):
                # ``if ignore is None: return x`` with ``ignore=None``: the rest is what the option runs
                options += 1
                defaults_taken += 1
                self.ctx.config_depth += 1
                self.ctx.off_default_depth += 1
            elif isinstance(statement, cst.If) and statement.orelse is None and _exits(statement.body) and (
                    _is_reduction_option(statement.test, self.ctx.evaluator)
                    or _tests_nonzero(statement.test, self.ctx.evaluator)):
                # after `if reduction == "none": return x` the rest is another option; after
                # `if w.sum() > 0: return ... / w.sum()` it is the all-zero fallback
                options += 1
                self.ctx.config_depth += 1
        self.ctx.config_depth -= options
        self.ctx.off_default_depth -= defaults_taken
        self.ctx.eval_depth -= outside
        self.ctx.eval_depth -= failing

    def _defaults_take(self, test) -> bool:
        """A call with the loss's defaults takes this option branch (as read for an ``if``'s sides)."""
        if not _is_configuration_test(test, self.ctx.evaluator) or _is_reduction_option(test, self.ctx.evaluator):
            return False
        tested = test.left if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 else None
        return _default_outcome(test, self.ctx.loss, self.ctx.index) is True and not (
            isinstance(tested, cst.Name) and _every_call_passes(self.ctx.loss, self.ctx.index, tested.value))

    def statement(self, statement) -> None:
        ev = self.ctx.evaluator
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                self.small(small)
            return
        if isinstance(statement, cst.FunctionDef):
            # analysed on its own if it is a loss or a helper, with the names it closes over
            if self.ctx.call_sites is not None:
                self.ctx.call_sites[("closure", id(statement))] = dict(ev.env)
            return
        if isinstance(statement, cst.ClassDef):
            return
        self._statement_rules(statement)
        if isinstance(statement, cst.If):
            # (every N steps of an eager loop; a compiled step traces the branch, and fails there, anyway)
            sampled_log = _samples_a_log_line(statement) or (self.ctx.loss.kind == "train-step"
                                                             and not self.ctx.compiled_step
                                                             and every_few_steps(statement.test))
            self.ctx.sampled_log_depth += sampled_log
            self.expression(statement.test)
            config = (_is_configuration_test(statement.test, ev) and not _tests_a_required_argument(statement.test,
                                                                                                   self.ctx.loss)) \
                or _is_degenerate_case(statement, ev)
            # ``if visibility is not None: ... else: ...`` with ``visibility=None``: the else is what
            # a call with the defaults runs, the loss's own behaviour, not an option's
            default_side = (_default_none_side(statement.test, self.ctx.loss)
                            or _default_value_side(statement.test, self.ctx.loss, ev)) if config else None
            if default_side is not None and isinstance(statement.test.left, cst.Name) \
                    and _every_call_passes(self.ctx.loss, self.ctx.index, statement.test.left.value):
                default_side = None  # box_l1(pred, tgt, num_boxes) on every call: the default is never used
            body_config = config and default_side != "body"
            else_config = config and default_side != "orelse"
            self.ctx.config_depth += body_config
            guarded = _guard_within(statement.test, ev)  # if den > 0: ... / den is nonzero here
            training = _training_test(statement.test)  # True: `if training:`, False: `if not training:`
            if training is None:
                training = _labels_given_test(statement.test, self.ctx.loss)  # `if label is not None:`
            if training is None:
                training = self.ctx.callers_take(statement.test)  # a branch no call in the file takes
            if training is None:
                training = _diagnostic_test(statement.test, self.ctx.loss, self.ctx.index)  # `if debug:`
            self.ctx.eval_depth += training is False
            hosted = _host_type_test(statement.test, ev)  # if isinstance(x, list): x = np.array(x)
            eager = _eager_test(statement.test)  # True: `if tf.executing_eagerly():`, False: its negation
            self.ctx.eager_depth += eager is True
            opt_in = _is_opt_in_test(statement.test, ev)
            self.ctx.opt_in_depth += opt_in
            dump = opt_in and _writes_output(statement.body)  # if self.prediction_h is not None: print(..., file=)
            self.ctx.dump_depth += dump
            # ``if num_pos == 0: loss = -neg.sum() else: loss = -(pos + neg) / num_pos``: the empty
            # batch's fallback; what the normal branch computes is the loss (as for ``a if c else b``)
            test_facts = ev.facts(statement.test) if statement.orelse is not None else None
            zero_branch = test_facts is not None and (test_facts.zero_of is not None
                                                      or test_facts.whole_zero_of is not None)
            before = dict(ev.env) if zero_branch else None
            before_if = dict(ev.env) if statement.orelse is not None and not zero_branch \
                and _tests_nonzero(statement.test, ev) else None  # (if n > 0: ... else: a fallback)
            # ``if threshold is not None: p = (p > threshold).float()`` with ``threshold=None``: an
            # option off by default, so a value with gradient before it keeps its gradient after it
            # (so is ``if not self.training:``; any other branch, on the layout, on ``self.training``
            # or an option on by default, is taken as written)
            before_branch = dict(ev.env) if statement.orelse is None and (training is False or (
                training is None and _off_by_default(statement.test, self.ctx.loss))) else None
            replaced = _zero_replaced(statement, ev)  # if num_pos == 0: num_pos = 1.0
            # ``if self.use_negsampling: aux = self._aux_loss(...)`` with ``use_negsampling=False``:
            # a helper called only there runs in no training step with the defaults
            outcome = _default_outcome(statement.test, self.ctx.loss, self.ctx.index) if training is None else None
            # ``if torch.isnan(t).any(): t = t[~torch.isnan(t)]``: a recovery that runs only when a
            # value is already NaN or infinite, not what an ordinary training step runs
            off = outcome is False or (_nonfinite_only(statement.test)
                                       and not _tests_given_data(statement.test, self.ctx.loss, ev))
            on = outcome is True and body_config  # an option's side the defaults take (``ignore_index=255``)
            self.ctx.off_default_depth += off
            self.ctx.on_default_depth += on
            device_switch = outcome is not None and _names_a_device_switch(statement.test)
            self.ctx.host_option_depth += device_switch and outcome is False
            refill = _refills_a_cache(statement, self.ctx)
            self.ctx.cache_fill_depth += refill
            self.block(block_statements(statement.body))
            self.ctx.cache_fill_depth -= refill
            self.ctx.host_option_depth -= device_switch and outcome is False
            self.ctx.off_default_depth -= off
            self.ctx.on_default_depth -= on
            # ``if form == "BPR": loss = ... elif form == "NCE": loss = ...`` with ``form="BPR"``: below
            # the ``if``, the values are the ones the defaults' branch bound, not the last option's
            default_env = dict(ev.env) if default_side == "body" and statement.orelse is not None \
                and not _exits(statement.body) else None  # (a body that returns: the rest is the options')
            if replaced is not None:  # below: the value it was, known nonzero (not the literal)
                ev.env[replaced[0]] = replace(replaced[1], guarded=True, literal=None)
            fallback_env = _undo_branch(ev, before) if zero_branch else None
            self.ctx.opt_in_depth -= opt_in
            self.ctx.dump_depth -= dump
            self.ctx.sampled_log_depth -= sampled_log
            self.ctx.eager_depth -= eager is True
            ev.env.update(hosted)
            self.ctx.eval_depth -= training is False
            _unguard(guarded, ev)
            self.ctx.eval_depth += training is True
            # else of `if w.sum() > 0:`: the all-zero case, a fallback rather than the loss's behaviour
            fallback = statement.orelse is not None and _tests_nonzero(statement.test, ev) and not config
            self.ctx.config_depth += fallback
            normal_env = dict(ev.env) if fallback and before_if is not None else None
            self.ctx.eager_depth += eager is False
            # else of `if num_pos == 0:` (or `<= eps`): the tested value is nonzero there
            nonzero_else = _mark_guarded(_zero_tested(statement.test, ev), ev) \
                if zero_branch and not _equals_nonzero(statement.test, ev) else {}
            marked = {name: ev.env.get(name) for name in nonzero_else}
            self.ctx.config_depth += else_config - body_config
            self.ctx.off_default_depth += outcome is True
            on_else = outcome is False and else_config
            self.ctx.on_default_depth += on_else
            self.ctx.host_option_depth += device_switch and outcome is True
            self._orelse(statement.orelse)
            self.ctx.host_option_depth -= device_switch and outcome is True
            self.ctx.on_default_depth -= on_else
            self.ctx.off_default_depth -= outcome is True
            if default_env is not None:
                ev.env.update({name: facts for name, facts in default_env.items() if ev.env.get(name) is not facts})
            _unguard({name: facts for name, facts in nonzero_else.items()  # not what the else rebinds
                      if facts is None or ev.env.get(name) is marked[name]}, ev)
            if fallback_env:
                _keep_fallback_values(ev, before, fallback_env)
            if normal_env is not None:
                # ``if n > 0: loss = s / n else: loss = torch.tensor(0.0)``: below, the normal branch's values
                _keep_fallback_values(ev, before_if, _undo_branch(ev, normal_env))
            self.ctx.eager_depth -= eager is False
            self.ctx.config_depth -= fallback
            self.ctx.eval_depth -= training is True
            self.ctx.config_depth -= else_config
            if before_branch is not None:
                _keep_gradient_of_skipped_branch(ev, before_branch)
            if _exits(statement.body) and statement.orelse is None:
                _learn_nonzero(statement.test, ev)  # if den == 0: return ... -> den != 0 below
                if isinstance(statement.test, cst.UnaryOperation) and isinstance(statement.test.operator, cst.Not):
                    # if not torch.all(p > 0): raise ... -- as ``assert torch.all(p > 0)`` (only that
                    # form: ``not (p == 0).any()`` raises where p has no zeros)
                    _learn_all_nonzero(statement.test.expression, ev)
                _mark_guarded((_any_zero_of(statement.test, ev),), ev)  # if (t == 0).any(): raise
        elif isinstance(statement, cst.For):
            self.expression(statement.iter)
            ev.bind_loop_target(statement.target, statement.iter)
            # one pass per sample: as BSG101 reads the loop (``zip(preds, targets)`` of tensors too)
            batch_loop = bool(for_loop_over_the_batch(statement, self.ctx))
            # (not ``for i in range(len(output))`` with ``self.level_weights[i]``: the outputs' levels)
            self.per_sample_loops.append(batch_loop or (_walks_the_batch(statement.iter, ev) and not indexes_a_fixed_list(
                statement.iter, statement.target, statement.body, self.ctx)))
            self.loop_targets.append(statement.target)
            self.loop_statements.append((statement, batch_loop))
            self.block(block_statements(statement.body))
            self.loop_statements.pop()
            self.loop_targets.pop()
            self.per_sample_loops.pop()
            self._orelse(statement.orelse)
        elif isinstance(statement, cst.While):
            self.expression(statement.test)
            self.block(block_statements(statement.body))
            self._orelse(statement.orelse)
        elif isinstance(statement, cst.With):
            no_grad = any(_is_no_grad(item.item, ev) for item in statement.items)
            for item in statement.items:
                self.expression(item.item)
                if item.asname is not None:
                    ev.bind(item.asname.name, UNTAINTED)
            self.ctx.no_grad_depth += no_grad
            self.block(block_statements(statement.body))
            self.ctx.no_grad_depth -= no_grad
        elif isinstance(statement, cst.Try) or type(statement).__name__ == "TryStar":
            self.block(block_statements(statement.body))
            for handler in statement.handlers:
                self.block(block_statements(handler.body))
            self._orelse(statement.orelse)
            if statement.finalbody is not None:
                self.block(block_statements(statement.finalbody.body))
        elif isinstance(statement, cst.Match):
            self.expression(statement.subject)
            # ``match reduction: case "sum": ...``: on a host value, each case is an option's branch, as
            # under ``if reduction == "sum":`` (a case the loss's defaults select is its behaviour)
            config = _is_configuration_test(statement.subject, ev)
            for case in statement.cases:
                case_config = config and not _default_case(statement.subject, case, self.ctx.loss, ev)
                self.ctx.config_depth += case_config
                self.block(block_statements(case.body))
                self.ctx.config_depth -= case_config

    def _orelse(self, orelse) -> None:
        if orelse is None:
            return
        if isinstance(orelse, cst.If):
            self.statement(orelse)
        else:
            self.block(block_statements(orelse.body))

    def small(self, small) -> None:
        ev = self.ctx.evaluator
        self._statement_rules(small)
        if isinstance(small, cst.Expr):
            dead = dead_statement(small, self.unread)  # self.logs.update({"ratio": a / b})
            detached = dead_statement(small, self.undifferentiated)
            self.ctx.dead_depth += dead
            self.ctx.grad_dead_depth += detached
            self.expression(small.value)
            self.ctx.dead_depth -= dead
            self.ctx.grad_dead_depth -= detached
            _mark_guarded([_floored_in_place(small.value, ev)], ev)  # p.clamp_min_(eps); log(p)
            _grow_list(small.value, ev, bool(self.per_sample_loops and self.per_sample_loops[-1]),
                       self.loop_targets[-1] if self.loop_targets else None, self.ctx.loss.node)
        elif isinstance(small, cst.Assign):
            dead = dead_statement(small, self.unread)
            detached = dead_statement(small, self.undifferentiated)
            self.ctx.dead_depth += dead
            self.ctx.grad_dead_depth += detached
            self.expression(small.value)
            self.ctx.dead_depth -= dead
            self.ctx.grad_dead_depth -= detached
            facts = ev.facts(small.value)
            if self.ctx.config_depth and not _sum_made_before(facts, ev):
                facts = replace(facts, batch_sum=None)  # the user's explicit choice, not the default
            if self.ctx.no_grad_depth and not self.ctx.autograd_forward_scope():
                facts = replace(facts, nograd=True, step_node=None)  # a statistic, never differentiated
            if len(small.targets) == 1 and _names_the_targets(small.targets[0].target, small.value, ev):
                # ``y_true = args[num_layers:]``: the part of a packed list that holds the targets
                facts = replace(facts, taint=frozenset({TRUE}))
            for target in small.targets:
                self._target(target.target)
                if _unpacks_elementwise(target.target, small.value):
                    parts = _indexed_parts(small.value)
                    for element, value in zip(target.target.elements, small.value.elements):
                        facts_of_part = ev.facts(value.value)
                        if parts is not None:  # anchor, positive = y_pred[0], y_pred[1]: stacked outputs
                            facts_of_part = replace(ev.facts(parts), batch_sum=None, exp_node=None, maybe_list=False)
                        ev.bind(element.value, facts_of_part)
                elif isinstance(target.target, cst.Subscript):
                    _write_into(ev, target.target, facts, small.value)
                elif _rebinds_own_arguments(target.target, small.value, ev):
                    _rebound_through(target.target, small.value, facts, ev)
                else:
                    if len(small.targets) == 1 and isinstance(small.value, cst.BinaryOperation) \
                            and isinstance(small.value.operator, cst.Add) and isinstance(target.target, cst.Name) \
                            and isinstance(small.value.left, cst.Name) \
                            and small.value.left.value == target.target.value \
                            and self._adds_up_samples(target.target, small.value.right):
                        facts = replace(facts, batch_sum=small)  # total = total + l1(pred, target) per sample
                    ev.bind(target.target, facts)
                    if isinstance(small.value, cst.Lambda) and isinstance(target.target, cst.Name):
                        ev.lambdas[target.target.value] = small.value  # f = lambda x: exp(x / tau)
                    if _reads_named_heads(small.value):
                        _positive_heads(target.target, ev)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                self.expression(small.value)
                ev.bind(small.target, ev.facts(small.value))
        elif isinstance(small, cst.AugAssign):
            self.expression(small.value)
            self._target(small.target)
            if isinstance(small.target, cst.Subscript) and isinstance(small.operator, cst.AddAssign):
                _guard_replaced_zeros(ev, small.target, ev.facts(small.value), small.value)  # x[x == 0] += eps
            if isinstance(small.target, cst.Name):
                symbol = _AUG_SYMBOL.get(type(small.operator), "?")
                updated = ev.binary(symbol, small.target, small.value, small)
                if self.loop_targets and updated.literal is not None and not updated.taint:
                    updated = replace(updated, literal=None)  # ``pos_cnt += 1`` in a loop: a count, not 2
                if isinstance(small.operator, cst.AddAssign) and self._adds_up_samples(small.target, small.value):
                    updated = replace(updated, batch_sum=small)  # loss += ce(pred[i], t[i]) for each sample
                ev.bind(small.target, updated)
        elif isinstance(small, cst.Return):
            if small.value is not None:
                self.expression(small.value)
                self.returned(small.value)
        elif isinstance(small, (cst.Assert,)):
            self.expression(small.test)
            _learn_nonzero(small.test, ev, asserted=True)
        elif isinstance(small, cst.Raise):
            return
        elif isinstance(small, cst.Del):
            return

    def _adds_up_samples(self, total: cst.Name, term) -> bool:
        """``loss += ce(pred[i], t[i])`` in a loop over the batch (or in loops inside it): a total of one
        term per sample, started before that loop (a total reset inside it sums one sample's terms), of
        terms that carry the prediction's gradient. Returned as it is, it grows with the batch
        size as a ``sum`` over the batch axis does; divided by the batch size or a count, it is a mean."""
        # the innermost loop over the batch; loops inside it (``for joint in range(21)``) add one
        # term per sample and joint to a total started before it
        sample_loops = [loop for loop, over_batch in self.loop_statements if over_batch]
        if not sample_loops:
            return False  # for level in pyramid: each term is one level's
        ev = self.ctx.evaluator
        before = ev.env.get(total.value)
        first_pass = _first_pass_statements(total.value, sample_loops[-1])
        if any(_binds(node, total.value) for node in first_pass):
            pass  # if loss is None: loss = term / else: loss += term -- the total of every pass's term
        elif before is None or before.python_list or before.is_tensor and before.batch_sum is None and before.taint:
            return False  # an unbound name, a list, or a tensor of the inputs the loop adds to
        if _rebound_inside(total.value, sample_loops[-1], first_pass):
            return False
        facts = ev.facts(term)
        return PRED in facts.taint and facts.has_grad and not facts.shape and not facts.python_list \
            and not _normalised_term(term, ev, self.ctx.loss.node)

    def _target(self, target) -> None:
        if isinstance(target, (cst.Subscript, cst.Attribute)):
            self.expression(target)

    def returned(self, value) -> None:
        if self.returns is not None:
            facts = self.ctx.evaluator.facts(value)
            if self.ctx.config_depth:
                facts = replace(facts, batch_sum=None)  # the user's explicit option
            self.returns.append(facts)
        for rule in self.return_rules:
            rule.check_return(value, self.ctx)

    def _statement_rules(self, statement) -> None:
        for rule in self.statement_rules.get(type(statement), ()):
            rule.check_statement(statement, self.ctx)

    # ---- expressions --------------------------------------------------------------------
    def expression(self, root) -> None:
        """Rules see every node under ``root`` in pre-order, with its ancestors; iterative, so
        that a 10,000-term sum does not exhaust Python's stack."""
        ancestors = self.ctx.ancestors
        stack: list = [(root, False)]
        while stack:
            node, leaving = stack.pop()
            if leaving:
                ancestors.pop()
                continue
            if isinstance(node, cst.Call):
                self.ctx.record_call(node)
            if isinstance(node, _COMPREHENSIONS):
                # its loop variables are bound while its parts are read: read them now, before a
                # rule asks for one part alone (which would see the enclosing scope's names)
                self.ctx.evaluator.facts(node)
            rules = self.node_rules.get(type(node))
            if rules:
                for rule in rules:
                    rule.check_node(node, self.ctx)
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                continue
            ancestors.append(node)
            stack.append((node, True))
            children = [child for child in tree_children(node) if not isinstance(child, _LEAVES)]
            stack.extend((child, False) for child in reversed(children))


def _eager_test(test) -> bool | None:
    """True for ``tf.executing_eagerly()`` (its body never runs inside a compiled step), False for
    its negation (then the ``else`` is eager only), None for anything else."""
    negated = isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)
    call = test.expression if negated else test
    if isinstance(call, cst.Call) and not call.args and isinstance(call.func, (cst.Attribute, cst.Name)):
        name = call.func.attr.value if isinstance(call.func, cst.Attribute) else call.func.value
        if name == "executing_eagerly":
            return not negated
    return None


# what a factory's parameter is called when it holds the model's tensors (a triplet's embeddings,
# a VAE's latent statistics, a layer's output); anything else is a setting (an offset, a base, a
# constant computed from the data, a flag), whatever taint a helper's parameter would get
_FACTORY_TENSOR = compile_lazily(r"emb|feat|anchor|positive|negative|logit|output|hidden|latent|^z_|_z$|^mu$|"
                                 r"log_?var|pred|encod|repr|proj|layer|activation", re.IGNORECASE)


def _factory_arguments(loss: LossFunction, index: ModuleIndex) -> dict:
    """The facts of the enclosing factory's parameters that a loss it returns reads (``def
    triplet_loss(embedding_a, embedding_p, margin): def loss(y_true, y_pred): ...``): named like
    tensors, they are tensors (the model's layer outputs, given once when the loss is built); a
    ``margin`` or ``gamma`` is a number."""
    parent = loss.info.parent if loss.info is not None else None
    if parent is None:
        return {}
    taints = param_taints(parent.node.params, "helper", skip_self=parent.class_info is not None)
    read = {node.value for node in own_nodes(loss.node) if isinstance(node, cst.Name)}
    required = {p.name.value for p in (*parent.node.params.posonly_params, *parent.node.params.params)
                if p.default is None}  # weight=None, alpha=0.25: options, whatever their names
    taints = {name: taint for name, taint in taints.items()
              if taint and name in read and name in required and _FACTORY_TENSOR.search(name)}
    return Evaluator(index.imports, taints).env if taints else {}


def _normalised_term(node, ev: Evaluator, scope, depth: int = 0) -> bool:
    """A term already divided by something other than a number (``ce(p[i], t[i]) / B``, ``... /
    avg_factor``, ``inv * term`` with ``inv = 1.0 / B``, ``w[i] * term`` of weights normalised in
    the loss, ``w = softmax(s)`` or ``w = weights / weights.sum()``): added up over the batch, it
    gives a mean or a weighted mean, not a sum."""
    while isinstance(node, cst.UnaryOperation):
        node = node.expression
    if isinstance(node, cst.Subscript):
        node = node.value  # w[i] of normalised weights
    if isinstance(node, cst.BinaryOperation):
        if isinstance(node.operator, (cst.Divide, cst.FloorDivide)):
            return ev.facts(node.right).literal is None or _normalised_term(node.left, ev, scope, depth)
        if isinstance(node.operator, cst.Multiply):
            return any(_normalised_term(side, ev, scope, depth) or ev._reciprocal_of_a_count(side)
                       for side in (node.left, node.right))
        return False
    if isinstance(node, cst.Call):
        op = ev.op(node)
        if op is not None and op.name in ("div", "divide", "true_divide", "div_no_nan", "divide_no_nan") \
                and len(op.args) >= 2:
            return ev.facts(op.args[1]).literal is None
        return op is not None and op.name == "softmax"
    if isinstance(node, cst.Name) and depth < 2:
        if ev.facts(node).weights_to_one:
            return True
        values = [a.value for a in own_nodes(scope) if isinstance(a, cst.Assign) and len(a.targets) == 1
                  and isinstance(a.targets[0].target, cst.Name) and a.targets[0].target.value == node.value]
        return len(values) == 1 and _normalised_term(values[0], ev, scope, depth + 1)  # inv = 1.0 / B
    return False


def _rebound_inside(name: str, loop: cst.For, first_pass: list) -> bool:
    """``name = ...`` (other than ``name = name + ...``) somewhere in the loop's body: the total
    starts again on every pass. The first term stored under ``if name is None:`` (or ``if i == 0:``
    for the loop's own counter ``i``; ``first_pass``, the nodes under that test), with ``name +=
    term`` in its ``else``, starts it once."""
    first_terms = {id(node) for node in first_pass}
    for node in own_nodes(loop.body):
        if id(node) in first_terms:
            continue
        if _binds(node, name):
            value = node.value
            if not (isinstance(value, cst.BinaryOperation) and isinstance(value.left, cst.Name)
                    and value.left.value == name):
                return True
        elif isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name) and node.target.value == name:
            return True
    return False


def _first_pass_statements(name: str, loop: cst.For) -> list:
    """The nodes under ``if name is None:`` / ``if i == 0:`` in the loop's body (see
    :func:`_tests_the_first_pass`)."""
    return [node for test in own_nodes(loop.body) if isinstance(test, cst.If)
            and _tests_the_first_pass(test.test, name, loop) for node in own_nodes(test.body)]


def _binds(node, name: str) -> bool:
    """``name = ...`` (a plain assignment to the name, among its targets)."""
    return isinstance(node, cst.Assign) and any(isinstance(t.target, cst.Name) and t.target.value == name
                                                for t in node.targets)


def _tests_the_first_pass(test, name: str, loop: cst.For) -> bool:
    """``name is None`` or ``i == 0`` with ``i`` the loop's own target: true on the first pass only."""
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and isinstance(test.left, cst.Name)):
        return False
    operator, right = test.comparisons[0].operator, test.comparisons[0].comparator
    if isinstance(operator, cst.Is):
        return test.left.value == name and isinstance(right, cst.Name) and right.value == "None"
    counter = loop.target
    if isinstance(counter, (cst.Tuple, cst.List)) and counter.elements and isinstance(loop.iter, cst.Call) \
            and isinstance(loop.iter.func, cst.Name) and loop.iter.func.value == "enumerate":
        counter = counter.elements[0].value  # for i, p in enumerate(preds): if i == 0:
    return isinstance(operator, cst.Equal) and isinstance(right, cst.Integer) and right.value == "0" \
        and isinstance(counter, cst.Name) and test.left.value == counter.value


def _walks_the_batch(iterable, ev: Evaluator) -> bool:
    """A ``for`` loop's iterable gives one entry per sample: ``range(bs)`` with ``bs`` read from the
    batch axis, the rows of a batch tensor."""
    if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name) and iterable.func.value == "range" \
            and len(iterable.args) == 1:
        return ev.facts(iterable.args[0].value).batch_dim
    return ev._walks(iterable, rows=True)


def _grow_list(value, ev: Evaluator, per_sample: bool, loop_target=None, scope=None) -> None:
    """``means.append(m)``, ``parts.extend(ms)`` on a Python list the loss made: the list holds
    what is added, one entry per sample when added in a loop over the batch. Only what comes from
    the loss's inputs is carried (a list of ``arange`` permutations or constants stays as it was)."""
    if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
            and value.func.attr.value in ("append", "extend") and isinstance(value.func.value, cst.Name)
            and value.args):
        return
    name = value.func.value.value
    listed = ev.env.get(name)
    if listed is None or not listed.python_list:
        return
    added_facts = ev.facts(value.args[0].value)
    added = added_facts.taint & {PRED, TRUE}
    if not added:
        return
    # rows without a batch axis (one image's objects): so is every entry, if each added one is
    per_sample_rows = listed.batch_rows or (per_sample and not listed.elements)
    rows_only = not per_sample_rows and added_facts.no_batch_axis \
        and (listed.no_batch_axis if listed.grown_list else not listed.elements)
    first_entry = not listed.grown_list
    columns = not per_sample_rows and not rows_only and _reads_a_column(value.args[0].value, loop_target, ev) \
        and (first_entry or listed.column_terms)
    # entries without gradient (each a thresholded count): so is the list, until one carries it
    no_gradient = added_facts.nograd and (listed.nograd or not (listed.grown_list or listed.elements))
    normalised = listed.normalised_entries or (scope is not None and _normalised_term(value.args[0].value, ev, scope))
    # ``losses.append(tf.reduce_sum(err_at_scale))`` in a loop over scales: entries that each sum
    # the whole batch (kept while every entry added does; not one entry per sample)
    summed = added_facts.batch_sum if not per_sample_rows and value.func.attr.value == "append" and (
        listed.batch_sum is not None if listed.grown_list else not listed.elements) else None
    ev.env[name] = replace(listed, taint=listed.taint | added, elements=None, grown_list=True, batch_sum=summed,
                           normalised_entries=normalised,
                           no_batch_axis=rows_only, batch_rows=per_sample_rows, column_terms=columns,
                           nograd=no_gradient, step_node=(listed.step_node or added_facts.step_node) if no_gradient else None)


# a loss function, whose default reduction is a mean over the batch: ``F.l1_loss``, ``binary_crossentropy``
_LOSS_FUNCTION_NAME = compile_lazily(r"loss|entropy|kl_div|nll|hinge|huber", re.IGNORECASE)


def _reads_a_column(value, loop_target, ev: Evaluator) -> bool:
    """``logsumexp(s[:, m:], 1) - s[:, m]`` in ``for m in ...``: the value reads the loop's
    position of a batch tensor (every row, one column), so it holds one entry per sample."""
    if not isinstance(loop_target, cst.Name):
        return False
    for node in own_nodes(value):
        if isinstance(node, cst.Call) and _LOSS_FUNCTION_NAME.search(terminal_name(node.func) or ""):
            return False  # F.cross_entropy(x[:, m], t): a loss function's default mean, a scalar per term
        if isinstance(node, cst.Subscript) and len(node.slice) >= 2 \
                and isinstance(node.slice[0].slice, cst.Slice) and node.slice[0].slice.lower is None \
                and node.slice[0].slice.upper is None:
            second = node.slice[1].slice
            position = second.value if isinstance(second, cst.Index) else second.lower \
                if isinstance(second, cst.Slice) else None
            if isinstance(position, cst.Name) and position.value == loop_target.value:
                facts = ev.facts(node.value)
                if facts.is_tensor and not facts.no_batch_axis:
                    return True
    return False


def _only_called_off_by_default(loss: LossFunction, index: ModuleIndex) -> bool:
    """A private loss the file calls only inside a branch its caller's defaults switch off (DIEN's
    ``if self.use_neg and neg_keys is not None: aux = self._cal_auxiliary_loss(...)`` with
    ``use_neg=False`` set in ``__init__``): with the defaults it runs in no training step. Every
    mention of its name but its ``def`` must be such a call."""
    info = loss.info
    if info is None or not isinstance(loss.node, cst.FunctionDef) or not info.name.startswith("_") \
            or info.name.startswith("__"):
        return False  # (a public function is the library's API: it may well be called from elsewhere)
    name = info.name
    calls = []
    for caller in index.functions:
        if caller.node is loss.node or not isinstance(caller.node, cst.FunctionDef):
            continue
        as_loss = SimpleNamespace(node=caller.node, info=caller)
        stack = [(child, False) for child in tree_children(caller.node.body)]
        while stack:
            node, off = stack.pop()
            if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                continue
            if isinstance(node, cst.Call) and (
                    (isinstance(node.func, cst.Name) and node.func.value == name)
                    or (isinstance(node.func, cst.Attribute) and node.func.attr.value == name
                        and isinstance(node.func.value, cst.Name) and node.func.value.value == "self"
                        and info.class_info is not None and caller.class_info is info.class_info)):
                calls.append(off)
            if isinstance(node, cst.If):
                switched_off = _off_by_default_option(node.test, as_loss, index)
                stack.append((node.test, off))
                stack.extend((child, off or switched_off) for child in tree_children(node.body))
                if node.orelse is not None:
                    stack.append((node.orelse, off))
                continue
            stack.extend((child, off) for child in tree_children(node))
    return bool(calls) and all(calls) and index.references(name) == len(calls) + 1


# parameters that hold data a training loop passes (``mask=None``, ``weight=None``): a test of them
# against None is no switch the defaults turn off
_DATA_PARAMETER = compile_lazily(r"(^|_)(mask|masks|weight|weights|valid|lengths?|lens|target|targets|label|labels|"
                                 r"gt|indices|idx|ids|keys|seq|seqs|x|y|z|inputs?|features?|embeddings?)(_|$)",
                                 re.IGNORECASE)


def _default_outcome(test, loss, index: ModuleIndex | None) -> bool | None:
    """Whether a call with the loss's defaults takes ``test``'s branch: a switch (a parameter, or
    ``self.x`` set in ``__init__`` from one) with a literal default, ``and``/``or`` of such tests.
    None when it cannot tell: an unknown default, an input tested against None (``mask is None``:
    data the caller passes), or a switch some call in the file passes by keyword (it may be on).

        >>> f = cst.parse_statement("def f(p, t, ignore=None, mask=None, hard=False):\\n    pass\\n")
        >>> loss = type("L", (), {"node": f, "info": None})
        >>> [_default_outcome(cst.parse_expression(t), loss, None)
        ...  for t in ("ignore is None", "mask is None", "hard and ignore is None", "p.dim() == 4")]
        [True, None, False, None]
    """
    if isinstance(test, cst.BooleanOperation):
        sides = (_default_outcome(test.left, loss, index), _default_outcome(test.right, loss, index))
        if isinstance(test.operator, cst.And):
            return False if False in sides else True if sides == (True, True) else None
        return True if True in sides else False if sides == (False, False) else None
    tested = _tested_switch(test)
    default = _option_default(tested, loss)
    if default is _UNKNOWN or literal_text(default) is _NOT_A_LITERAL:
        return None
    switch = _switch_name(tested, loss)
    if switch is None or (isinstance(default, cst.Name) and default.value == "None" and _DATA_PARAMETER.search(switch)):
        return None
    text = literal_text(default)
    if index is not None and loss.info is not None:
        if isinstance(tested, cst.Attribute) and _constructed_with(index, loss.info.class_info, switch):
            return None  # the file builds the class with that switch set
        if isinstance(tested, cst.Name):
            text = _literal_at_calls(index, loss.info, switch)  # the calls in the file may set it
            if text is _NOT_A_LITERAL:
                return None
    option = cst.Name("option")
    return branch_outcome(test.deep_replace(tested, option), {"option": text})


def _switch_name(tested, loss) -> str | None:
    """The parameter behind a tested switch: ``ignore`` for ``ignore``, ``use_neg`` for
    ``self.use_neg`` set in ``__init__`` from ``use_neg`` (the attribute's own name otherwise)."""
    if isinstance(tested, cst.Name):
        return tested.value
    if not (isinstance(tested, cst.Attribute) and isinstance(tested.value, cst.Name) and tested.value.value == "self"):
        return None
    init = loss.info.class_info.methods.get("__init__") if loss.info is not None and loss.info.class_info else None
    for node in own_nodes(init.node) if init is not None else ():
        if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Attribute) \
                and node.targets[0].target.attr.value == tested.attr.value and isinstance(node.value, cst.Name):
            return node.value.value
    return tested.attr.value


def _constructed_with(index: ModuleIndex, class_info, keyword: str | None) -> bool:
    """The file builds the class passing ``keyword`` another value than its default
    (``InterestExtractor(size, use_neg=True)``, a subclass's ``super().__init__(use_aux=True)``;
    ``use_neg=use_negsampling`` handed on from a parameter whose default and calls agree on the
    default is no other value): the switch may be on."""
    if class_info is None or keyword is None or index.module is None \
            or keyword not in _keywords_passed(index, class_info.name):
        return False
    init = class_info.methods.get("__init__")
    default = _param_default(init.node, keyword) if init is not None else _UNKNOWN
    if default is _UNKNOWN:
        return True
    built = [*_file_calls(index).get(class_info.name, ()),
             *((caller, call) for caller, call in _file_calls(index).get("__init__", ())
               if _text(call.func) == "super().__init__")]
    for caller, call in built:
        value = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == keyword), None)
        if value is None:
            continue
        text = literal_text(value)
        if text is _NOT_A_LITERAL and isinstance(value, cst.Name):
            text = _literal_at_calls(index, caller, value.value)
        if text is _NOT_A_LITERAL or text != literal_text(default):
            return True
    # a call at module level or in a class body, not read above
    return any(isinstance(node, cst.Call) and terminal_name(node.func) == class_info.name
               and any(a.keyword is not None and a.keyword.value == keyword for a in node.args)
               for statement in index.module.body if not isinstance(statement, (cst.FunctionDef, cst.ClassDef))
               for node in all_nodes(statement))


def _keywords_passed(index: ModuleIndex, class_name: str) -> frozenset:
    """The keywords the file's calls of the class (``Name(...)``, ``module.Name(...)``) and
    ``super().__init__(...)`` calls pass."""
    cache = index.__dict__.setdefault("_keywords_passed", {})
    found = cache.get(class_name)
    if found is None:
        found = cache[class_name] = frozenset(
            arg.keyword.value for node in all_nodes(index.module) if isinstance(node, cst.Call)
            and (terminal_name(node.func) == class_name or _text(node.func) == "super().__init__")
            for arg in node.args if arg.keyword is not None)
    return found


def _off_by_default_option(test, loss, index: ModuleIndex | None) -> bool:
    """The defaults switch ``test``'s branch off (:func:`_default_outcome`), by a switch set to a
    literal other than None (``self.use_neg`` with ``use_neg=False``; not ``neg_keys is not None``,
    an input a caller may well pass), also in ``option and other``."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _off_by_default_option(test.left, loss, index) or _off_by_default_option(test.right, loss, index)
    tested = _tested_switch(test)
    default = _option_default(tested, loss)
    if default is _UNKNOWN or (isinstance(default, cst.Name) and default.value == "None"):
        return False
    return _default_outcome(test, loss, index) is False


def _file_calls(index: ModuleIndex) -> dict[str, list]:
    """Every call in the file's functions, by the callee's last name (``f`` of ``f(x)`` and of
    ``self.f(x)``): ``(caller, call)`` pairs, gathered once per file."""
    found = index.__dict__.get("_file_calls")
    if found is None:
        found = index.__dict__["_file_calls"] = {}
        for caller in index.functions:
            for call in own_nodes(caller.node):
                if isinstance(call, cst.Call) and terminal_name(call.func):
                    found.setdefault(terminal_name(call.func), []).append((caller, call))
    return found


def _calls_of(index: ModuleIndex, info, constructor: str | None = None):
    """The ``(caller, call)`` pairs that call the function ``info`` in the file's functions:
    ``name(...)`` of a module-level function, ``self.name(...)`` of a method from its own class;
    with ``constructor``, also every call that builds that class."""
    for caller, call in _file_calls(index).get(info.name, ()):
        if (isinstance(call.func, cst.Name) and info.class_info is None) or (
                isinstance(call.func, cst.Attribute) and isinstance(call.func.value, cst.Name)
                and call.func.value.value == "self" and info.class_info is not None
                and caller.class_info is info.class_info):
            yield caller, call
    if constructor is not None:
        yield from _file_calls(index).get(constructor, ())


def _literal_at_calls(index: ModuleIndex, info, param: str, depth: int = 0) -> object:
    """The one literal (source text) parameter ``param`` of the function ``info`` holds on every
    run the file shows: its default (a call from elsewhere) and what each call in the file passes,
    followed through callers that hand on their own parameter (``lovasz_hinge(..., ignore=None)``
    passing ``ignore`` on) or ``self.ignore_index`` set in ``__init__`` (unless some call in the
    file passes that keyword). ``...`` when they differ or a call cannot be read."""
    node = info.node
    if depth > 3 or not isinstance(node, cst.FunctionDef) or param in local_bindings(node):
        return ...
    params = [*node.params.posonly_params, *node.params.params]
    if info.class_info is not None and params and params[0].name.value in ("self", "cls"):
        params = params[1:]
    every = {p.name.value: p for p in (*params, *node.params.kwonly_params)}
    if param not in every or every[param].default is None:
        return ...
    texts = {literal_text(every[param].default)}
    position = next((i for i, p in enumerate(params) if p.name.value == param), None)
    # ``__init__``'s calls are the class's constructions (``DIEN(..., use_negsampling=True)``)
    constructor = info.class_info.name if info.name == "__init__" and info.class_info is not None else None
    calls = 0
    for caller, call in _calls_of(index, info, constructor):
        calls += 1
        if any(a.star for a in call.args):
            return ...
        positional = [a.value for a in call.args if a.keyword is None]
        value = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == param), None)
        if value is None and position is not None and position < len(positional):
            value = positional[position]
        text = literal_text(value) if value is not None else literal_text(every[param].default)
        if text is _NOT_A_LITERAL and isinstance(value, cst.Name):
            text = _literal_at_calls(index, caller, value.value, depth + 1)
        elif text is _NOT_A_LITERAL and isinstance(value, cst.Attribute):
            as_loss = SimpleNamespace(node=caller.node, info=caller)
            default = _option_default(value, as_loss)
            if default is not _UNKNOWN and not _constructed_with(index, caller.class_info,
                                                                 _switch_name(value, as_loss)):
                text = literal_text(default)
        texts.add(text)
    # (``super(DIEN, self).__init__()`` names the class without building it)
    supers = _super_mentions(info.class_info) if constructor is not None else 0
    if index.references(constructor or info.name) != calls + 1 + supers:
        return ...
    return texts.pop() if len(texts) == 1 else ...


def _super_mentions(class_info) -> int:
    """How often the class's own body names it in ``super(Name, self)`` (Python 2 style).

        >>> from keras_bsguard.lint.module_index import ModuleIndex
        >>> source = "class A(B):\\n    def __init__(self, on=False):\\n        super(A, self).__init__()\\n"
        >>> _super_mentions(ModuleIndex.build(cst.parse_module(source)).classes["A"])
        1
    """
    return sum(1 for node in all_nodes(class_info.node) if isinstance(node, cst.Call)
               and isinstance(node.func, cst.Name) and node.func.value == "super" and node.args
               and isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == class_info.name)


def _rebinds_parameters(function: cst.FunctionDef, test=None) -> bool:
    """The function assigns to one of its own parameters (``if backend is None: backend = ...``)
    before ``test`` can read it: an assignment inside the branch ``test`` opens (``if kl: kl =
    KL(...)``) does not count, unless a loop runs that branch again."""
    params = {p.name.value for p in (*function.params.posonly_params, *function.params.params,
                                     *function.params.kwonly_params)}
    if test is not None:  # only the parameters the test reads (``scores = scores.view(-1)`` is no matter)
        params &= {node.value for node in all_nodes(test) if isinstance(node, cst.Name)}
    branch = next((node for node in own_nodes(function) if isinstance(node, cst.If) and node.test is test), None)
    looped = branch is not None and any(isinstance(node, (cst.For, cst.While)) and branch in own_nodes(node)
                                        for node in own_nodes(function))
    inside = set() if branch is None or looped else {id(node) for node in own_nodes(branch.body)}
    for node in own_nodes(function):
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else \
            [node.target] if isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.For, cst.NamedExpr)) else []
        if id(node) not in inside and any(name in params for t in targets for name in bound_names(t)):
            return True  # (``labels, ignore = prep(labels, ignore)`` too)
    return False


def _reads_named_heads(value) -> bool:
    """The value is what the model handed over under a name: a structure unpacked as it is
    (``alpha, probs = evidential_output``) or a mapping's entry (``outputs["quant_alpha"]``,
    ``outputs["quant_alpha"][valid]``), not a channel sliced out of one raw output (``y_pred[:, 1]``)."""
    if isinstance(value, cst.Name):
        return True
    while isinstance(value, cst.Subscript):
        if any(isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.SimpleString) for e in value.slice):
            return True
        value = value.value
    return False


def _positive_heads(target, ev) -> None:
    """Names bound to a head's output that name a distribution parameter its head keeps positive
    (``sigma``, ``quant_alpha``): positive, as a parameter of that name is."""
    names = [target] if isinstance(target, cst.Name) else \
        [e.value for e in target.elements if isinstance(e.value, cst.Name)] if isinstance(target, (cst.Tuple, cst.List)) \
        else []
    for name in names:
        facts = ev.env.get(name.value)
        if facts is not None and PRED in facts.taint and names_a_positive_parameter(name.value):
            ev.env[name.value] = replace(facts, guarded=True, nonneg=True)


def _stored_names(target) -> set[str]:
    """The plain names an assignment target binds (``a`` or ``a, b``); empty when it writes
    anything else (an attribute, a subscript, a starred name)."""
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        names = [_stored_names(element.value) for element in target.elements]
        return set().union(*names) if names and all(names) else set()
    return set()


def unread_names(function) -> set[str]:
    """Names the function only ever assigns to (``y_std = sqrt(var)`` and no later ``y_std``).

    Every other appearance of the name counts as a read, attribute names and keywords included,
    so the answer errs towards "read".

        >>> import libcst as cst
        >>> unread_names(cst.parse_statement("def f(v):\\n    s = v ** 0.5\\n    t = v\\n    return t\\n"))
        {'s'}
    """
    seen: dict[str, int] = {}
    stored: dict[str, int] = {}
    stack = [function]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            seen[node.value] = seen.get(node.value, 0) + 1
            continue
        if isinstance(node, cst.Assign):
            for target in node.targets:
                for name in _stored_names(target.target):
                    stored[name] = stored.get(name, 0) + 1
        stack.extend(tree_children(node))
    return {name for name, count in stored.items() if seen.get(name, 0) == count}


def _held_ranges(loss: LossFunction, index: ModuleIndex, call_sites: dict | None) -> dict[str, dict]:
    """The range facts every call gives a parameter of a loss class that other losses of the file
    hold and call and nothing else in the file builds (``LogMagnitudeLoss`` of an STFT loss, handed
    magnitudes clamped away from 0 on every call): only guards and signs, which say what values
    reach it, never its shapes or gradients."""
    if not call_sites or loss.kind in ("helper", "named") or loss.info is None or loss.info.class_info is None:
        return {}
    passed = call_sites.get(("held", id(loss.node)))
    if not passed or not index.built_only_as_held(loss.info.class_info):
        return {}
    calls = passed[None]
    if index.held_uses(loss.info.class_info) != calls:
        return {}  # a use no loss read (a helper method, a trainer, .forward, map(self.log_mag, ...))
    ranges = {}
    for name, facts in passed.items():
        if name is None or len(facts) != calls:
            continue
        known = {key: True for key in ("guarded", "nonneg") if all(getattr(f, key) for f in facts)}
        if known.get("guarded"):
            ranges[name] = known
    return ranges


def _local_callees(node: cst.Call, ctx: LossContext):
    func = node.func
    if isinstance(func, cst.Name):
        info = ctx.loss.info
        nested = [f for f in info.nested if f.name == func.value] if info is not None else []
        return nested or ctx.index.functions_named(func.value) or ctx.index.given_by_default(ctx.loss.node, func.value)
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
        info = ctx.loss.info
        if info is not None and info.class_info is not None:
            return ctx.index.self_call_targets(info.class_info, func.attr.value, info.name.rsplit(".", 1)[-1])
    return []


def _labels_given_test(test, loss: LossFunction) -> bool | None:
    """``if label is not None:`` (True) or ``if label is None:`` (False) in a loss whose labels are
    optional (``forward(self, x, label=None)`` of a margin head): without labels it serves
    inference, so the branch without them is not the training step."""
    if not isinstance(loss.node, cst.FunctionDef) or loss.info is None or loss.info.class_info is None \
            or not MARGIN_HEAD.search(loss.info.class_info.name) or not isinstance(test, cst.Comparison) \
            or not isinstance(test.left, cst.Name) or normalize_name(test.left.value) not in TARGET_NAMES:
        return None
    return optional_labels_test(test, loss.node)


# flags that ask a loss for diagnostics: host copies to inspect, printed or plotted values
_DIAGNOSTIC_FLAGS = frozenset({"debug", "debugging", "debug_mode", "is_debug", "return_stats", "return_statistics",
                               "return_debug", "visualize", "visualise", "visualization", "vis", "plot", "show"})


def _diagnostic_test(test, loss: LossFunction, index: ModuleIndex) -> bool | None:
    """``if debug:`` on a flag named for diagnostics: False (its body is diagnostics, not the
    training step) for a parameter whose default is off (``debug=False``, ``return_stats=None``)
    or an attribute its class's ``__init__`` sets off (``self.debug = debug`` with ``debug=False``,
    or ``self.debug = False``), when no call in the file passes the flag on (``debug=True``);
    None for any other test (``if not debug:`` included: its body is the loss's own code).

        >>> import libcst as cst
        >>> src = "def loss(p, t, debug=False):\\n    return p\\n"
        >>> index = ModuleIndex.build(cst.parse_module(src))
        >>> stub = LossFunction(name="loss", node=index.functions[0].node, kind="signature")
        >>> _diagnostic_test(cst.parse_expression("debug"), stub, index)
        False
        >>> _diagnostic_test(cst.parse_expression("not debug"), stub, index) is None
        True
    """
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        # ``if self.debug and self.calls % 100 == 0:``: runs only with the flag on
        sides = (_diagnostic_test(test.left, loss, index), _diagnostic_test(test.right, loss, index))
        return False if False in sides else None
    if isinstance(test, cst.Attribute) and isinstance(test.value, cst.Name) and test.value.value == "self":
        name = test.attr.value
        if name.lower() not in _DIAGNOSTIC_FLAGS or not _set_off_in_init(name, loss):
            return None
    elif isinstance(test, cst.Name) and isinstance(loss.node, cst.FunctionDef):
        name = test.value
        if name.lower() not in _DIAGNOSTIC_FLAGS:
            return None
        default = _literal_default(name, loss.node)
        if default is ... and not _a_parameter(name, loss.node):
            default = _module_literal(name, index)  # DEBUG = False at module level
        if default not in _OFF_LITERALS:
            return None  # a local flag, a required one, or one on by default
    else:
        return None
    if index.module is not None and any(
            isinstance(node, cst.Arg) and node.keyword is not None and node.keyword.value == name
            and literal_text(node.value) not in _OFF_LITERALS for node in all_nodes(index.module)):
        return None  # criterion(pred, target, debug=True) somewhere in the file
    return False


_OFF_LITERALS = frozenset({"False", "None", "0"})


def _literal_default(name: str, function: cst.FunctionDef):
    """The source text of parameter ``name``'s literal default (``...`` for none or another value)."""
    default = _param_default(function, name)
    return ... if default is _UNKNOWN else literal_text(default)


def _a_parameter(name: str, function: cst.FunctionDef) -> bool:
    params = function.params
    return any(p.name.value == name for p in (*params.posonly_params, *params.params, *params.kwonly_params,
                                               *((params.star_arg,) if isinstance(params.star_arg, cst.Param) else ()),
                                               *((params.star_kwarg,) if params.star_kwarg is not None else ())))


def _module_literal(name: str, index: ModuleIndex):
    """The literal a module-level ``NAME = literal`` binds, when it is the module's only binding
    of the name; ``...`` otherwise."""
    if index.module is None:
        return ...
    values = [statement.value for line in index.module.body if isinstance(line, cst.SimpleStatementLine)
              for statement in line.body if isinstance(statement, cst.Assign)
              and any(isinstance(t.target, cst.Name) and t.target.value == name for t in statement.targets)]
    return literal_text(values[0]) if len(values) == 1 else ...


def _set_off_in_init(name: str, loss: LossFunction) -> bool:
    """``self.<name>`` set in the class's ``__init__`` to ``False``/``None``/``0`` or to a parameter
    whose default is one of them."""
    class_info = loss.info.class_info if loss.info is not None else None
    init = class_info.methods.get("__init__") if class_info is not None else None
    if init is None:
        return False
    values = [node.value for node in all_nodes(init.node) if isinstance(node, cst.Assign)
              and any(isinstance(t.target, cst.Attribute) and isinstance(t.target.value, cst.Name)
                      and t.target.value.value == "self" and t.target.attr.value == name for t in node.targets)]
    if not values:
        return False
    for value in values:
        if literal_text(value) in _OFF_LITERALS:
            continue
        if isinstance(value, cst.Name) and _literal_default(value.value, init.node) in _OFF_LITERALS:
            continue
        return False
    return True


def _zero_replaced(statement: cst.If, ev: Evaluator) -> tuple[str, Facts] | None:
    """``if n == 0: n = 1.0`` (no else): the name and its value before, which below the ``if`` is
    the same value, never 0 -- a count guarded for the division that follows, not the literal."""
    if statement.orelse is not None:
        return None
    name = ev.facts(statement.test).zero_of
    body = block_statements(statement.body)
    if name is None or len(body) != 1 or not isinstance(body[0], cst.SimpleStatementLine) \
            or len(body[0].body) != 1 or not isinstance(body[0].body[0], cst.Assign):
        return None
    assign = body[0].body[0]
    if len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Name) \
            or assign.targets[0].target.value != name or name not in ev.env:
        return None
    value = ev.facts(assign.value)
    if value.literal is None or value.literal <= 0 or value.taint:
        return None
    return name, ev.env[name]


def _join_all(passed: list[Facts]) -> Facts:
    from .facts import _join

    result = passed[0]
    for facts in passed[1:]:
        result = _join(result, facts)
    return result


_LEAVES = (cst.SimpleWhitespace, cst.ParenthesizedWhitespace, cst.TrailingWhitespace, cst.Comment,
           cst.Newline, cst.EmptyLine, cst.LeftParen, cst.RightParen, cst.Comma, cst.Dot,
           cst.LeftSquareBracket, cst.RightSquareBracket, cst.Colon, cst.AssignEqual,
           cst.SimpleString, cst.Integer, cst.Float)

_AUG_SYMBOL = {cst.AddAssign: "+", cst.SubtractAssign: "-", cst.MultiplyAssign: "*",
               cst.DivideAssign: "/", cst.PowerAssign: "**", cst.MatrixMultiplyAssign: "@",
               cst.BitAndAssign: "&", cst.BitOrAssign: "|"}


# ``l_true``, ``box_gt``, ``t_target``: a name whose last word says targets
_TARGET_PART = compile_lazily(r"_(true|gt|target|targets|labels?)$", re.IGNORECASE)
_OUTPUT_WORD = compile_lazily(r"pred|out|logit|hat|est", re.IGNORECASE)


def _names_the_targets(target, value, ev: Evaluator) -> bool:
    """``y_true = args[n:]``: a name that says targets, given a slice of a list of tensors."""
    if not isinstance(target, cst.Name) or not isinstance(value, cst.Subscript):
        return False
    if target.value.lower().replace("_", "") not in TARGET_NAMES and not (
            _TARGET_PART.search(target.value) and not _OUTPUT_WORD.search(target.value)
            and any(isinstance(element.slice, cst.Slice) for element in value.slice)):
        return False  # l_true = args[n:] holds targets; pred_labels = args[:n] does not
    base = ev.facts(value.value)
    return bool(base.taint) and (base.maybe_list or base.python_list) and not base.named_tensor


def _write_into(ev: Evaluator, target: cst.Subscript, written: Facts, value=None) -> None:
    """``mask[rows, cols] = target[:, 2]``: an in-place write; the tensor now holds what was written
    too (a mask that starts as zeros and is filled from the targets is a tensor of the step)."""
    root = target.value
    while isinstance(root, cst.Subscript):
        root = root.value
    if not isinstance(root, cst.Name) or root.value not in ev.env:
        return
    if _guard_replaced_zeros(ev, target, written, value):
        return  # p[p == 0] = eps: its zeros are gone
    if _clipped_in_place(ev, target, written):
        return  # x[x <= -1] = -0.999: a bound on every entry from here on
    held = ev.env[root.value]
    if held.mapping:
        # df[m] = 2 * alpha[m]: a dict of tensors (one per view or modality), not one tensor
        entries = written if not held.taint else join_facts(held, written)
        ev.env[root.value] = replace(entries, python_list=True, mapping=True, batch_sum=None, exp_node=None)
        return
    if held.made_tensor and not held.taint:
        # ``box_mask[b, cell] = 1`` into ``torch.zeros(...)``: now a tensor of the step's data
        ev.env[root.value] = replace(held, taint=frozenset({TRUE}) | written.taint, made_tensor=False,
                                     guarded=False, bounded=held.bounded and written.bounded,
                                     # filled from the device's values: no longer a host tensor
                                     on_host=held.on_host and (written.on_host or not written.taint))
    elif written.taint - held.taint and not (held.python_list or held.maybe_list):
        ev.env[root.value] = join_facts(held, written)


_SMALL_CONSTANT = compile_lazily(r"eps|small|tiny", re.IGNORECASE)


def _positive_constant(facts: Facts, node=None) -> bool:
    """A literal above 0 or an epsilon (``1e-8``, ``self.eps``, ``small_val(x.dtype)``)."""
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        return False
    if facts.taint and not (isinstance(node, cst.Call) and _SMALL_CONSTANT.search(_text(node.func))):
        return False
    return (facts.literal is not None and facts.literal > 0) or facts.guarded \
        or (node is not None and _SMALL_CONSTANT.search(_text(node)) is not None)


def _guard_replaced_zeros(ev: Evaluator, target: cst.Subscript, written: Facts, value=None) -> bool:
    """``p[p == 0] = 1e-8``, ``d[d < eps] += eps`` or ``stds[stds == 0] = means[stds == 0]``: every
    zero of ``p`` overwritten by a positive constant or a guarded value; mark ``p`` guarded and
    say so."""
    name = target.value.value if isinstance(target.value, cst.Name) else None
    if name not in ev.env or len(target.slice) != 1 or not isinstance(target.slice[0].slice, cst.Index):
        return False
    index = target.slice[0].slice.value
    # (zero_mask = p == 0; p[zero_mask] = 1e-7: the mask's name says the same)
    if not (isinstance(index, (cst.Comparison, cst.Name)) and ev.facts(index).zero_of == name
            and (_positive_constant(written, value) or written.guarded)):
        return False
    ev.env[name] = replace(ev.env[name], guarded=True)
    return True


def _clipped_in_place(ev: Evaluator, target: cst.Subscript, written: Facts) -> bool:
    """``x[x <= a] = c`` (or ``x[x > b] = c``) with numbers ``a`` and ``c``: the entries at or below
    ``a`` now hold ``c``, so every entry is above ``min(a, c)`` (strictly when ``c > a``); with
    both bounds the values are bounded, and inside (-1, 1) when the bounds are."""
    name = target.value.value if isinstance(target.value, cst.Name) else None
    if name not in ev.env or len(target.slice) != 1 or not isinstance(target.slice[0].slice, cst.Index) \
            or written.taint or written.literal is None:
        return False
    test = target.slice[0].slice.value
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1):
        return False
    left, right = test.left, test.comparisons[0].comparator
    operator = type(test.comparisons[0].operator)
    if isinstance(right, cst.Name) and right.value == name:  # -1 >= x: the same test, turned round
        left, right = right, left
        operator = {cst.LessThan: cst.GreaterThan, cst.LessThanEqual: cst.GreaterThanEqual,
                    cst.GreaterThan: cst.LessThan, cst.GreaterThanEqual: cst.LessThanEqual}.get(operator)
    bound = ev.facts(right)
    if not (isinstance(left, cst.Name) and left.value == name) or bound.taint or bound.literal is None:
        return False
    held, c, a = ev.env[name], written.literal, bound.literal
    if operator in (cst.LessThan, cst.LessThanEqual):
        # below a (or at it) becomes c: the rest is above a (at a too, for ``<``)
        floor = (min(a, c), c > a and operator is cst.LessThanEqual) if c != a else (a, False)
        held = replace(held, floor=floor)
    elif operator in (cst.GreaterThan, cst.GreaterThanEqual):
        ceiling = (max(a, c), c < a and operator is cst.GreaterThanEqual) if c != a else (a, False)
        held = replace(held, ceiling=ceiling)
    else:
        return False
    above = held.floor is not None and (held.floor[0] > 0 or (held.floor[0] == 0 and held.floor[1]))
    inside = held.floor is not None and held.ceiling is not None \
        and (held.floor[0] > -1 or (held.floor[0] == -1 and held.floor[1])) \
        and (held.ceiling[0] < 1 or (held.ceiling[0] == 1 and held.ceiling[1]))
    ev.env[name] = replace(held, guarded=held.guarded or above, nonneg=held.nonneg or above
                           or (held.floor is not None and held.floor[0] >= 0),
                           bounded=held.bounded or (held.floor is not None and held.ceiling is not None),
                           inside_unit=held.inside_unit or inside, below_one=held.below_one or inside)
    return True


_FLOOR_IN_PLACE = frozenset({"clamp_", "clamp_min_", "clip_", "add_"})


def _floored_in_place(value, ev: Evaluator) -> str | None:
    """The name that ``p.clamp_(min=eps)``, ``p.clamp_min_(eps)``, ``p.clamp_(eps, 1 - eps)``,
    ``torch.clamp_min_(p, eps)`` or ``p.add_(eps)`` keeps away from 0 from here on."""
    if not isinstance(value, cst.Call) or not isinstance(value.func, cst.Attribute) \
            or value.func.attr.value not in _FLOOR_IN_PLACE:
        return None
    method = value.func.attr.value
    args = list(value.args)
    subject = value.func.value
    if not (isinstance(subject, cst.Name) and subject.value in ev.env) and args and args[0].keyword is None \
            and isinstance(args[0].value, cst.Name):
        subject, args = args[0].value, args[1:]  # torch.clamp_min_(p, eps): the function form
    if not isinstance(subject, cst.Name):
        return None
    lower = None
    for position, arg in enumerate(args):
        keyword = arg.keyword.value if arg.keyword is not None else None
        if keyword in ("min", "other") or (keyword is None and position == 0):
            lower = arg.value
    if lower is None or not _positive_constant(ev.facts(lower), lower):
        return None
    if method == "add_" and not ev.facts(subject).nonneg:
        return None  # p.add_(eps) keeps a non-negative p off 0 only
    return subject.value


def _rebinds_own_arguments(target, value, ev: Evaluator) -> bool:
    """``y_true, y_pred = standardize(y_true, y_pred)``: an opaque call that hands its arguments back.

    The names keep what we knew of them instead of becoming opaque.
    """
    if not isinstance(value, cst.Call) or ev.op(value) is not None:
        return False
    names = [e.value for e in target.elements] if isinstance(target, (cst.Tuple, cst.List)) else [target]
    if not all(isinstance(n, cst.Name) for n in names):
        return False
    argument_names = {a.value.value for a in value.args if isinstance(a.value, cst.Name)}
    return all(n.value in argument_names for n in names if ev.env.get(n.value) is not None and ev.env[n.value].taint) \
        and any(n.value in argument_names for n in names)


def _rebound_through(target, call: cst.Call, facts: Facts, ev: Evaluator) -> None:
    """``y_pred, y_true, y_true_rev, y_pred_rev = get_clip(y_pred, y_true, smooth)``: the arguments
    handed back keep what we knew of them, plus the call's floor when it has one (a clip given an
    epsilon); names that were no argument take the call's facts."""
    arguments = {a.value.value for a in call.args if isinstance(a.value, cst.Name)}
    names = [e.value for e in target.elements] if isinstance(target, (cst.Tuple, cst.List)) else [target]
    floored = facts.guarded and re.search("clip|clamp", called_name(call) or "", re.IGNORECASE) is not None
    for name in names:
        if not isinstance(name, cst.Name):
            continue
        known = ev.env.get(name.value)
        if name.value in arguments and known is not None:
            if floored:
                ev.env[name.value] = replace(known, guarded=True, nonneg=True)
        else:
            ev.bind(name, replace(facts, batch_sum=None, exp_node=None))


def _indexed_parts(value):
    """``y_pred[0], y_pred[1], y_pred[2]``: the base whose leading entries are taken one by one
    (a triplet's anchor, positive and negative stacked in one output), else None."""
    base = None
    for position, element in enumerate(value.elements):
        node = element.value
        if not (isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) and len(node.slice) == 1
                and isinstance(node.slice[0].slice, cst.Index) and isinstance(node.slice[0].slice.value, cst.Integer)
                and node.slice[0].slice.value.value == str(position)):
            return None
        if base is not None and node.value.value != base.value:
            return None
        base = node.value
    return base if len(value.elements) >= 2 else None


def _unpacks_elementwise(target, value) -> bool:
    """``a, b = x, y``: each name takes its own value's facts."""
    return isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List)) \
        and len(target.elements) == len(value.elements) \
        and not any(isinstance(e, cst.StarredElement) for e in (*target.elements, *value.elements))


def _tests_a_required_argument(test, loss: LossFunction) -> bool:
    """``if pocket_mask is not None:`` of a parameter the loss requires (no default): every call
    passes it, so the test is a defensive check of the data, not an option that may be off.

        >>> f = cst.parse_statement("def f(p, t, mask, weight=None):\\n    pass\\n")
        >>> loss = type("L", (), {"node": f})
        >>> [_tests_a_required_argument(cst.parse_expression(t), loss) for t in ("mask is not None", "weight is not None")]
        [True, False]
    """
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and isinstance(test.left, cst.Name)
            and isinstance(test.comparisons[0].operator, (cst.Is, cst.IsNot))
            and isinstance(test.comparisons[0].comparator, cst.Name) and test.comparisons[0].comparator.value == "None"
            and isinstance(loss.node, cst.FunctionDef)):
        return False
    params = loss.node.params
    return any(p.name.value == test.left.value and p.default is None
               for p in (*params.posonly_params, *params.params, *params.kwonly_params))


def _is_configuration_test(test, ev: Evaluator) -> bool:
    """An ``if`` on host values only (``reduction == "sum"``, ``self.size_average``): an option; also
    an ``and`` with such a test (``self.n_quantiles is not None and x.numel() > self.n_quantiles``):
    its body runs only where the option is set."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _is_configuration_test(test.left, ev) or _is_configuration_test(test.right, ev)
    if _tests_emptiness(test, ev):
        return False  # if tgt.shape[1] != 0: the batch's data decides, not an option
    facts = ev.facts(test)
    return not facts.taint and not facts.batch_dim


def _tests_emptiness(test, ev: Evaluator) -> bool:
    """``tgt.shape[1] != 0``, ``len(boxes) > 0``, ``x.numel() == 0``: whether a tensor of the batch is
    empty, which the data decides from batch to batch (not a setting of the loss)."""
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1
            and isinstance(test.comparisons[0].comparator, cst.Integer) and test.comparisons[0].comparator.value == "0"
            and isinstance(test.comparisons[0].operator, (cst.Equal, cst.NotEqual, cst.GreaterThan, cst.LessThanEqual))):
        return False
    sized = test.left
    if isinstance(sized, cst.Subscript) and isinstance(sized.value, cst.Attribute) and sized.value.attr.value == "shape":
        base = sized.value.value  # tgt.shape[1]
    elif isinstance(sized, cst.Call) and isinstance(sized.func, cst.Attribute) \
            and sized.func.attr.value in ("size", "numel", "nelement"):
        base = sized.func.value  # tgt.size(0), tgt.numel()
    elif isinstance(sized, cst.Call) and isinstance(sized.func, cst.Name) and sized.func.value == "len" \
            and len(sized.args) == 1:
        base = sized.args[0].value  # len(boxes)
    else:
        return False
    facts = ev.facts(base)
    return facts.is_tensor and bool(facts.taint)


def _sum_made_before(facts, ev: Evaluator) -> bool:
    """The batch sum a value carries was made outside the option branch being walked (another
    value bound before holds it: ``if print_loss: total = tf.Print(total, ...)``), not chosen by
    the option (sums made under a configuration branch are never bound with their batch_sum)."""
    return facts.batch_sum is not None and any(other.batch_sum is facts.batch_sum for other in ev.env.values())


_RANDOM_DRAWS = frozenset({"random", "rand", "uniform", "random_sample"})
_LOG_CALLS = frozenset({"debug", "info", "warning", "warn", "error", "log", "exception", "critical", "print"})


def _samples_a_log_line(statement: cst.If) -> bool:
    """``if torch.rand(1).item() < 0.001: logger.debug(...)``: a branch taken at random whose body
    only logs (no else): its draw decides whether a line is written, not the loss.

        >>> _samples_a_log_line(cst.parse_statement("if random.random() < 0.01:\\n    print(p.item())\\n"))
        True
        >>> _samples_a_log_line(cst.parse_statement("if random.random() < 0.5:\\n    x = x.flip(0)\\n"))
        False
    """
    test = statement.test
    if statement.orelse is not None or not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1
                                            and isinstance(test.comparisons[0].comparator, (cst.Float, cst.Integer))):
        return False  # only ``draw < p``: anything else in the test runs every step
    drawn = test.left
    if isinstance(drawn, cst.Call) and called_name(drawn) == "item" and isinstance(drawn.func, cst.Attribute) \
            and not drawn.args:
        drawn = drawn.func.value  # torch.rand(1).item()
    if not (isinstance(drawn, cst.Call) and called_name(drawn) in _RANDOM_DRAWS):
        return False
    for line in block_statements(statement.body):
        if not isinstance(line, cst.SimpleStatementLine):
            return False
        for small in line.body:
            call = small.value if isinstance(small, cst.Expr) else None
            if not isinstance(call, cst.Call) or called_name(call) not in _LOG_CALLS:
                return False
    return True


def _writes_output(body) -> bool:
    """The block writes to a file: ``print(..., file=handle)``, ``handle.write(...)``.

        >>> _writes_output(cst.parse_statement("if h is not None:\\n    print(p.item(), file=h)\\n").body)
        True
        >>> _writes_output(cst.parse_statement("if h is not None:\\n    x = p.item()\\n").body)
        False
    """
    for node in own_nodes(body):
        if not isinstance(node, cst.Call):
            continue
        if isinstance(node.func, cst.Name) and node.func.value == "print" \
                and any(a.keyword is not None and a.keyword.value == "file" for a in node.args):
            return True
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in ("write", "writelines") \
                and _FILE_HANDLE.search(_text(node.func.value)):
            return True  # self.out_file.write(...), f.write(...); not TensorArray.write
    return False


_FILE_HANDLE = compile_lazily(r"(^|[._])(f|fp|fh|fd|file|handle|stream|out_?file|output_?file|\w+_(file|handle|h|fh|fp))$")


def _is_opt_in_test(test, ev: Evaluator) -> bool:
    """``if self.n_quantiles is not None:`` (also in an ``and``): the body runs only where the user
    set an option that is off (None) by default; its else branch is the default behaviour."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _is_opt_in_test(test.left, ev) or _is_opt_in_test(test.right, ev)
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1):
        return False
    comparison = test.comparisons[0]
    return isinstance(comparison.operator, cst.IsNot) and isinstance(comparison.comparator, cst.Name) \
        and comparison.comparator.value == "None" and not ev.facts(test.left).taint


_REDUCTION_OPTION_WORDS = ("reduction", "reduce", "average", "aggregat")


def _is_reduction_option(test, ev: Evaluator) -> bool:
    """A configuration test on how the loss is reduced (``reduction == "none"``, ``self.size_average``)."""
    if not _is_configuration_test(test, ev):
        return False
    text = _text(test).lower()
    return any(word in text for word in _REDUCTION_OPTION_WORDS)


# a count of what a table holds, not of samples: ``n_classes = all_embs.size(0)``
_TABLE_COUNT_NAME = compile_lazily(r"^(n|num|number_of|nb)_?(classes|class|cls|labels|prototypes|protos|centers|centres|"
                                   r"centroids|clusters|codes|codewords|vocab|words|proxies)$", re.IGNORECASE)


def sized_by_a_table_count(function, env: dict) -> list[str]:
    """Tensors whose leading axis the body names a count of classes (or prototypes, centres,
    codewords): ``n_classes = all_embs.size(0)`` says ``all_embs`` is a table, one row per class,
    with no batch axis (``env`` is changed in place). Returns the names so marked.

        >>> f = cst.parse_statement("def f(pred, all_embs):\\n    n_classes = all_embs.size(0)\\n    return pred\\n")
        >>> env = {"pred": Facts(taint=frozenset({PRED})), "all_embs": Facts(taint=frozenset({"tensor"}))}
        >>> sized_by_a_table_count(f, env), env["all_embs"].no_batch_axis
        (['all_embs'], True)
    """
    if not isinstance(function, cst.FunctionDef):
        return []
    marked = []
    for node in own_nodes(function):
        if not (isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name)
                and _TABLE_COUNT_NAME.match(node.targets[0].target.value)):
            continue
        table = _leading_size_of(node.value)
        if table is not None and table in env and env[table].taint and PRED not in env[table].taint:
            env[table] = replace(env[table], no_batch_axis=True)
            marked.append(table)
    return marked


def _leading_size_of(value) -> str | None:
    """``x`` of ``x.size(0)``, ``x.shape[0]``, ``len(x)``, else None."""
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "size" \
            and len(value.args) == 1 and isinstance(value.args[0].value, cst.Integer) \
            and value.args[0].value.value == "0" and isinstance(value.func.value, cst.Name):
        return value.func.value.value
    if isinstance(value, cst.Subscript) and isinstance(value.value, cst.Attribute) and value.value.attr.value == "shape" \
            and isinstance(value.value.value, cst.Name) and len(value.slice) == 1 \
            and isinstance(value.slice[0].slice, cst.Index) and isinstance(value.slice[0].slice.value, cst.Integer) \
            and value.slice[0].slice.value.value == "0":
        return value.value.value.value
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value == "len" \
            and len(value.args) == 1 and isinstance(value.args[0].value, cst.Name):
        return value.args[0].value.value
    return None


def _swapped_elsewhere(attr: str, class_info, index: ModuleIndex) -> bool:
    """``self.<attr>`` may hold another module than the one ``__init__`` builds: a subclass of the
    file assigns it (``self.act = nn.ReLU()`` in a subclass running the inherited ``forward``), or
    the class sets attributes by ``setattr(self, ...)``.

        >>> source = ("class A:\\n    def __init__(self):\\n        self.act = nn.Sigmoid()\\n"
        ...           "class B(A):\\n    def __init__(self):\\n        self.act = nn.ReLU()\\n")
        >>> index = ModuleIndex.build(cst.parse_module(source))
        >>> _swapped_elsewhere("act", index.classes["A"], index), _swapped_elsewhere("act", index.classes["B"], index)
        (True, False)
    """
    for method in class_info.methods.values():
        for node in own_nodes(method.node):
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "setattr" \
                    and node.args and isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == "self":
                return True
    for other in index.classes.values():
        if other is class_info or not any((dotted_parts(base) or [""])[-1] == class_info.name for base in other.bases):
            continue
        if any(True for _ in self_assignments(other.methods, attr)):
            return True
    return False


def _tested_switch(test):
    """What an option's test reads: ``x`` of ``x``, ``not x``, ``x is None``, ``self.x != "a"``."""
    inner = test.expression if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not) else test
    return inner.left if isinstance(inner, cst.Comparison) and len(inner.comparisons) == 1 else inner


def _refills_a_cache(statement: cst.If, ctx=None) -> bool:
    """The ``if`` fills a cache: ``if self.mask is None: self.mask = ...`` (once), or ``if m is None or
    m.size(0) != 2 * B: m = ...`` of an attribute, or of a parameter some call in the file passes an
    attribute to (``refresh(B, self.m)``, stored back): again only when the batch size changes. What
    its body does is not paid on every step. (A parameter the calls leave out, or tested against
    None alone, is a default filled on every call, not a cache.)

        >>> [_refills_a_cache(cst.parse_statement(s)) for s in (
        ...     "if self.mask is None:\\n    self.mask = make(n)\\n",
        ...     "if self.m is None or self.m.size(0) != 2 * n:\\n    self.m = make(n)\\n",
        ...     "if m is None:\\n    m = make(n)\\n")]
        [True, True, False]
    """
    test = statement.test
    stale_test = None
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        test, stale_test = test.left, test.right
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1
            and isinstance(test.comparisons[0].operator, cst.Is)
            and isinstance(test.comparisons[0].comparator, cst.Name) and test.comparisons[0].comparator.value == "None"):
        return False
    cached = test.left
    text = _text(cached)
    on_self = isinstance(cached, cst.Attribute) and isinstance(cached.value, cst.Name) and cached.value.value == "self"
    if not on_self and (stale_test is None or not isinstance(cached, cst.Name) or ctx is None
                        or not _given_an_attribute(cached.value, ctx)):
        return False
    if stale_test is not None and not any(isinstance(node, (cst.Attribute, cst.Call)) and (
            _text(node).startswith((f"{text}.size", f"{text}.shape")) or _text(node) == f"len({text})")
            for node in all_nodes(stale_test)):
        return False
    return any(isinstance(node, cst.Assign) and any(_text(t.target) == text for t in node.targets)
               for node in all_nodes(statement.body))


def _given_an_attribute(parameter: str, ctx) -> bool:
    """Some call in the file of the function being walked passes an attribute of an object as its
    ``parameter`` (``_refresh(B, self.index_matrix)``): a value kept between calls."""
    function = ctx.loss.node
    if not isinstance(function, cst.FunctionDef) or ctx.index.module is None:
        return False
    params = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
    if parameter not in params:
        return False
    position = params.index(parameter) - (1 if params and params[0] == "self" else 0)
    for node in all_nodes(ctx.index.module):
        if isinstance(node, cst.Call) and called_name(node) == function.name.value:
            positional = [a.value for a in node.args if a.keyword is None and not a.star]
            given = [a.value for a in node.args if a.keyword is not None and a.keyword.value == parameter]
            if position < len(positional):
                given.append(positional[position])
            if any(is_self_attribute(value) for value in given):
                return True
    return False


_DEVICE_SWITCH_WORDS = frozenset({"cpu", "gpu", "cuda"})


def _names_a_device_switch(test) -> bool:
    """The test reads a switch named for where the work runs (``self.cpu``, ``use_gpu``, ``not
    on_cuda``): its sides move tensors between devices, and the side the defaults do not take is
    an option the user did not choose.

        >>> [_names_a_device_switch(cst.parse_expression(t)) for t in ("self.cpu", "not use_gpu", "self.hard")]
        [True, True, False]
    """
    tested = _tested_switch(test)
    name = tested.attr.value if isinstance(tested, cst.Attribute) else tested.value if isinstance(tested, cst.Name) \
        else ""
    return bool(set(name.lower().split("_")) & _DEVICE_SWITCH_WORDS)


def _off_by_default(test, loss) -> bool:
    """The test is an option that the loss's own defaults switch off: ``threshold is not None``
    with ``threshold=None``, ``self.hard`` with ``hard=False`` given to ``__init__``, ``not self.soft``
    with ``soft=True`` (read by :func:`branch_outcome` with the default in place of the option).
    Unknown defaults, ``self.training`` and layout tests are not.

        >>> f = cst.parse_statement("def f(p, t, threshold=None, hard=True):\\n    pass\\n")
        >>> loss = type("L", (), {"node": f, "info": None})
        >>> [_off_by_default(cst.parse_expression(t), loss) for t in ("threshold is not None", "hard", "not hard")]
        [True, False, True]
    """
    tested = _tested_switch(test)
    default = _option_default(tested, loss)
    if default is _UNKNOWN:
        return False
    option = cst.Name("option")
    return branch_outcome(test.deep_replace(tested, option), {"option": literal_text(default)}) is False


_UNKNOWN = object()


def _every_call_passes(loss: LossFunction, index: ModuleIndex, parameter: str) -> bool:
    """The file calls the loss (by its name, or as ``self.name``) and every call passes
    ``parameter``, by position or keyword (or unpacks ``*args`` / ``**kwargs``).

        >>> from keras_bsguard.lint.module_index import ModuleIndex
        >>> module = cst.parse_module("def l1(p, t, n=None):\\n    return p\\n\\nx = l1(a, b, n)\\ny = l1(a, b, n=3)\\n")
        >>> loss = type("F", (), {"node": module.body[0], "name": "l1"})()
        >>> _every_call_passes(loss, ModuleIndex.build(module), "n"), _every_call_passes(loss, ModuleIndex.build(
        ...     cst.parse_module("def l1(p, t, n=None):\\n    return p\\n\\nx = l1(a, b)\\n")), "n")
        (True, False)
    """
    if not isinstance(loss.node, cst.FunctionDef) or index.module is None:
        return False
    params = [p.name.value for p in loss.node.params.params]
    method = bool(params) and params[0] in ("self", "cls")
    if method:
        params = params[1:]
    if parameter not in params:
        return False
    position, name = params.index(parameter), loss.name.rsplit(".", 1)[-1]
    # a function by its name; a method as ``self.name(...)`` (not ``F.l1_loss`` for a ``def l1_loss``)
    calls = index.calls_to(name, method=method)
    return bool(calls) and all(
        any(a.star for a in call.args)
        or any(a.keyword is not None and a.keyword.value == parameter for a in call.args)
        or len([a for a in call.args if a.keyword is None]) > position for call in calls)


def _default_none_side(test, loss) -> str | None:
    """Which branch of ``if x is None:`` / ``if x is not None:`` a call with the loss's defaults
    takes, ``x`` a parameter whose default is None: ``"body"``, ``"orelse"``, or None for any
    other test.

        >>> f = cst.parse_statement("def f(p, t, mask=None, k=3):\\n    pass\\n")
        >>> loss = type("L", (), {"node": f, "info": None})
        >>> [_default_none_side(cst.parse_expression(t), loss) for t in ("mask is None", "mask is not None", "k is None")]
        ['body', 'orelse', None]
    """
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1
            and isinstance(test.comparisons[0].comparator, cst.Name) and test.comparisons[0].comparator.value == "None"
            and isinstance(test.comparisons[0].operator, (cst.Is, cst.IsNot))):
        return None
    # (not ``self.cache is None``: a cache built on the first call, kept for the next ones)
    if not isinstance(test.left, cst.Name):
        return None
    default = _option_default(test.left, loss)
    if not (isinstance(default, cst.Name) and default.value == "None"):
        return None
    return "body" if isinstance(test.comparisons[0].operator, cst.Is) else "orelse"


def _default_case(subject, case: cst.MatchCase, loss, ev) -> bool:
    """``case "BPR":`` under ``match form:`` with ``form="BPR"`` by default: what a call with the
    defaults runs (see :func:`_default_value_side`; a reduction's cases stay options)."""
    pattern = case.pattern
    values = [p.pattern for p in pattern.patterns] if isinstance(pattern, cst.MatchOr) else [pattern]
    return any(isinstance(value, cst.MatchValue) and _default_value_side(
        cst.Comparison(left=subject, comparisons=[cst.ComparisonTarget(cst.Equal(), value.value)]), loss, ev) == "body"
        for value in values)  # case "l1" | "mae": with mode="l1"


def _default_value_side(test, loss, ev) -> str | None:
    """Which branch of ``if form == "BPR":`` / ``if form != "BPR":`` a call with the loss's defaults
    takes, ``form`` a parameter whose default is that literal (or ``self.form``, set in ``__init__``
    from such a parameter): ``"body"``, ``"orelse"``, or None
    (another test, another default, or a reduction option: ``if reduction == "sum"`` stays the
    caller's choice whatever its default).

        >>> f = cst.parse_statement("def f(p, t, form='BPR', k=3):\\n    pass\\n")
        >>> loss = type("L", (), {"node": f, "info": None})
        >>> [_default_value_side(cst.parse_expression(t), loss, None)
        ...  for t in ("form == 'BPR'", "form != 'BPR'", "form == 'NCE'", "k == 3")]
        ['body', 'orelse', None, 'body']
    """
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1
            and isinstance(test.comparisons[0].operator, (cst.Equal, cst.NotEqual))
            and (isinstance(test.left, cst.Name) or (isinstance(test.left, cst.Attribute)  # self.form, set in __init__
                                                     and isinstance(test.left.value, cst.Name)
                                                     and test.left.value.value == "self"))):
        return None
    literal = test.comparisons[0].comparator
    if not isinstance(literal, (cst.SimpleString, cst.Integer, cst.Float)):
        return None
    if (ev is not None and _is_reduction_option(test, ev)) or (
            isinstance(literal, cst.SimpleString) and str(literal.evaluated_value).lower() in _REDUCTION_VALUES):
        return None  # mode="sum", norm="mean": a reduction option under another name
    default = _option_default(test.left, loss)
    if type(default) is not type(literal) or default.evaluated_value != literal.evaluated_value:
        return None
    return "body" if isinstance(test.comparisons[0].operator, cst.Equal) else "orelse"


# the values a reduction option takes, whatever the option is named
_REDUCTION_VALUES = frozenset({"sum", "mean", "none", "batchmean", "sum_over_batch_size", "elementwise_mean", "avg",
                               "average"})


def _option_default(tested, loss):
    """The default expression behind ``name`` (the loss's own parameter) or ``self.name`` (set in
    ``__init__`` from its parameter, or to a literal), or ``_UNKNOWN``."""
    if isinstance(tested, cst.Name) and isinstance(loss.node, cst.FunctionDef):
        return _param_default(loss.node, tested.value)
    if isinstance(tested, cst.Attribute) and isinstance(tested.value, cst.Name) and tested.value.value == "self" \
            and loss.info is not None and loss.info.class_info is not None:
        init = loss.info.class_info.methods.get("__init__")
        if init is None:
            return _UNKNOWN
        for node in own_nodes(init.node):
            if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Attribute) \
                    and isinstance(node.targets[0].target.value, cst.Name) and node.targets[0].target.value.value == "self" \
                    and node.targets[0].target.attr.value == tested.attr.value:
                value = node.value
                if isinstance(value, cst.Name) and value.value not in ("None", "True", "False"):
                    return _param_default(init.node, value.value)
                return value
    return _UNKNOWN


def _settings_passed_by_the_class(loss: LossFunction, index: ModuleIndex | None = None) -> set[str]:
    """Parameters of a loss-named method that every call in its class (``self.RegularLoss(
    self.reg_weight)``) passes a setting: a number, or an attribute the class only ever sets to a
    number or to a value of the configuration (``config.reg_weight``, ``config["reg_weight"]``).
    Nothing when the method is named anywhere but in such calls (stored, aliased, passed on), a
    call unpacks ``*args``, or a class of the module derives from this one (its calls are unseen);
    nor a parameter the method indexes or calls methods on (a tensor of weights, not a number).

        >>> from types import SimpleNamespace
        >>> from keras_bsguard.lint.module_index import ModuleIndex
        >>> source = ("class M:\\n    def __init__(self, config):\\n        self.w = config.reg_weight\\n"
        ...           "    def calculate_loss(self, batch):\\n        return self.RegLoss(self.w)\\n"
        ...           "    def RegLoss(self, weight):\\n        return weight * 2\\n")
        >>> info = ModuleIndex.build(cst.parse_module(source)).classes["M"].methods["RegLoss"]
        >>> sorted(_settings_passed_by_the_class(SimpleNamespace(info=info, node=info.node)))
        ['weight']
    """
    info = loss.info
    if info is None or info.class_info is None or not isinstance(loss.node, cst.FunctionDef):
        return set()
    if index is not None and any(_names_base(other, info.class_info.name) for other in index.classes.values()):
        return set()  # a subclass may call it with anything
    params = [p.name.value for p in loss.node.params.params]
    if "staticmethod" not in _decorator_names(loss.node):
        params = params[1:]  # after self
    method = loss.node.name.value
    passed: dict[str, list] = {}
    for other in info.class_info.methods.values():
        if other.node is loss.node:
            continue
        calls = set()
        for node in all_nodes(other.node):  # lambdas and nested defs too
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == method \
                    and isinstance(node.func.value, cst.Name) and node.func.value.value == "self":
                calls.add(id(node.func))
                if any(arg.star for arg in node.args):
                    return set()  # self.RegLoss(*parts, 1.0): which parameter gets what is unknown
                for position, arg in enumerate(node.args):
                    name = arg.keyword.value if arg.keyword is not None else \
                        params[position] if position < len(params) else None
                    if name is not None:
                        passed.setdefault(name, []).append(arg.value)
            elif isinstance(node, cst.Attribute) and node.attr.value == method and id(node) not in calls:
                return set()  # self.reg_fn = self.RegLoss: called elsewhere with anything
    used_as_tensor = _indexed_or_called_on(loss.node)
    return {name for name, values in passed.items() if name not in used_as_tensor
            and all(_a_setting(value, info.class_info) for value in values)}


def _names_base(class_info, name: str) -> bool:
    return any(terminal_name(base.value if isinstance(base, cst.Arg) else base) == name for base in class_info.bases)


def _indexed_or_called_on(function: cst.FunctionDef) -> set[str]:
    """Names the function indexes (``w[:, None]``) or calls methods on (``w.sum()``)."""
    return {node.value.value for node in own_nodes(function)
            if isinstance(node, (cst.Subscript, cst.Attribute)) and isinstance(node.value, cst.Name)}


def _a_setting(value, class_info) -> bool:
    """A number, or ``self.attr`` that the class only sets (in any method) to a number or to an
    entry of a configuration."""
    if isinstance(value, (cst.Integer, cst.Float)):
        return True
    if not (isinstance(value, cst.Attribute) and isinstance(value.value, cst.Name) and value.value.value == "self"):
        return False
    stored = [node.value for method in class_info.methods.values() for node in own_nodes(method.node)
              if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)) and node.value is not None
              and any(isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self"
                      and t.attr.value == value.attr.value
                      for t in ([a.target for a in node.targets] if isinstance(node, cst.Assign) else [node.target]))]
    return bool(stored) and all(
        isinstance(v, (cst.Integer, cst.Float))
        or (isinstance(v, (cst.Attribute, cst.Subscript)) and isinstance(v.value, cst.Name)
            and _CONFIG_NAME.search(v.value.value)) for v in stored)


_CONFIG_NAME = compile_lazily(r"^(config|cfg|conf|args|opt|opts|hparams|settings)$", re.IGNORECASE)


def _param_default(function: cst.FunctionDef, name: str):
    """The default expression of parameter ``name`` (positional-only included), or ``_UNKNOWN``."""
    params = function.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        if param.name.value == name:
            return param.default if param.default is not None else _UNKNOWN
    return _UNKNOWN


def _keep_gradient_of_skipped_branch(ev: Evaluator, before: dict) -> None:
    """After an ``if`` with no ``else``: a name the body rebound to a value without gradient
    (``p = (p > t).float()``) had gradient before the ``if``, and the body may not run, so the
    name may still carry it: what follows is not cut from the prediction."""
    for name, held in list(ev.env.items()):
        previous = before.get(name)
        if held is not previous and previous is not None and held.nograd and previous.has_grad:
            ev.env[name] = replace(held, nograd=False, step_node=None)


def one_example_per_call(node, env: dict, vmapped: bool = False, index: ModuleIndex | None = None) -> bool:
    """Under ``@jax.vmap`` (or ``@partial(jax.vmap, in_axes=...)`` mapping the data, or mapped by a
    ``jax.vmap(loss)`` call of the file: ``vmapped``) the function sees one example at a time: its
    arrays have no batch axis (``env`` is changed in place). So does one that asserts, with chex, a
    scalar input (see :func:`per_example_module` for rank-1 inputs). Returns whether the whole
    function runs once per example (mapped, or under ``@vmap``)."""
    ranks = _asserted_ranks(node)
    params = {p.name.value for p in node.params.params} if isinstance(node, cst.FunctionDef) else set()
    # a tainted input asserted scalar (``chex.assert_rank([q_tm1, a_tm1], [1, 0])``): one example
    # (not the returned loss, nor a temperature)
    whole = any(maps_per_example(d.decorator, index.imports if index is not None else None,
                                 [p.name.value for p in (*node.params.posonly_params, *node.params.params)])
                for d in getattr(node, "decorators", ())) or vmapped or any(
        rank == 0 and name in params and name in env and env[name].taint for name, rank in ranks.items())
    vectors = index is not None and per_example_module(index)
    for name, held in list(env.items()):
        if held.taint and (whole or (vectors and name in ranks and name in params)):
            env[name] = replace(held, no_batch_axis=True, maybe_list=False)
    return whole


def per_example_module(index: ModuleIndex) -> bool:
    """Whether a function of the module asserts, with chex, a scalar parameter beside a vector one
    (``chex.assert_rank([q_tm1, a_tm1, r_t], [1, 0, 0])``): the JAX convention (rlax) of functions
    written for one example and mapped over the batch by their callers. There, rank-1 inputs are
    one example's (quantiles, atoms; a matrix of actions by atoms); elsewhere a rank-1 input may be
    the batch (B,)."""
    found = index.__dict__.get("_per_example_module")
    if found is None:
        found = False
        for info in index.functions:
            ranks = _asserted_ranks(info.node)
            params = {p.name.value for p in info.node.params.params}
            if any(r == 0 and n in params for n, r in ranks.items()) \
                    and any(r == 1 and n in params for n, r in ranks.items()):
                found = True
                break
        index.__dict__["_per_example_module"] = found
    return found


def _asserted_ranks(node) -> dict[str, int]:
    """Ranks that the body asserts with chex, the JAX convention for code written for one example
    and mapped over the batch by its callers: ``chex.assert_rank([q, a], [1, 0])`` gives
    ``{"q": 1, "a": 0}`` (how they are read: :func:`one_example_per_call`)."""
    ranks: dict[str, int] = {}
    if not isinstance(node, cst.FunctionDef):
        return ranks
    for statement in block_statements(node.body):
        if not (isinstance(statement, cst.SimpleStatementLine) and isinstance(statement.body[0], cst.Expr)):
            continue
        call = statement.body[0].value
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                and call.func.attr.value == "assert_rank" and isinstance(call.func.value, cst.Name)
                and call.func.value.value == "chex" and len(call.args) >= 2):
            continue
        values, expected = call.args[0].value, call.args[1].value
        names = [e.value for e in values.elements] if isinstance(values, (cst.List, cst.Tuple)) else [values]
        if isinstance(expected, (cst.List, cst.Tuple)):
            wanted = [e.value for e in expected.elements]
        else:
            wanted = [expected] * len(names)
        for name, rank in zip(names, wanted):
            if isinstance(name, cst.Name) and isinstance(rank, cst.Integer):
                ranks[name.value] = int(rank.value)
    return ranks


def _is_no_grad(expression, ev: Evaluator) -> bool:
    if isinstance(expression, cst.Call):
        op = ev.op(expression)
        return op is not None and op.name in ("no_grad", "inference_mode", "stop_recording")
    return False


def _raises_at_end(statements, body: bool = False) -> bool:
    """The block's last statement is a ``raise``: the block is an error path (an ``except``
    handler or an ``if`` that reports a failure), never part of a normal step. A function's own
    ``body`` that returns before its final raise is not one (the raise rejects an unknown option)."""
    if not statements:
        return False
    last = statements[-1]
    if not (isinstance(last, cst.SimpleStatementLine) and any(isinstance(s, cst.Raise) for s in last.body)):
        return False
    # ``if reduction == "sum": return ...`` ... ``raise ValueError(...)``: the returns before it are
    # the normal exits; only an unknown option reaches the raise
    return not (body and any(isinstance(node, cst.Return) for statement in statements[:-1]
                             for node in own_nodes(statement)))


# isinstance(x, T) with T a host type: inside the branch, x is a Python or numpy value
_HOST_TYPES = frozenset({"list", "tuple", "int", "float", "str", "bool", "dict", "ndarray", "Number", "Sequence"})


_TENSOR_TYPES = frozenset({"Tensor", "EagerTensor", "Variable", "Array", "KerasTensor"})


def _host_type_test(test, ev: Evaluator) -> dict:
    """Inside ``if isinstance(x, list):`` (or ``np.ndarray``, ``(int, float)``), ``x`` is a host
    value: bind it so for the branch; returns the facts to restore after it."""
    negated = isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)
    if negated:
        test = test.expression  # if not isinstance(loss, tf.Tensor): loss.numpy() -- a host value there
    if not isinstance(test, cst.Call) or not isinstance(test.func, cst.Name) or test.func.value != "isinstance" \
            or len(test.args) != 2 or not isinstance(test.args[0].value, cst.Name):
        return {}
    kinds = test.args[1].value
    types = [e.value for e in kinds.elements] if isinstance(kinds, cst.Tuple) else [kinds]
    names = [t.attr.value if isinstance(t, cst.Attribute) else getattr(t, "value", None) for t in types]
    if not names or not all(n in (_TENSOR_TYPES if negated else _HOST_TYPES) for n in names):
        return {}
    name = test.args[0].value.value
    before = {name: ev.env[name]} if name in ev.env else {}
    container = not negated and bool(set(names) & {"list", "tuple", "dict", "Sequence"})
    ev.env[name] = Facts(python_list=container, bounded=True, on_host=True)  # not a tensor in the branch
    return before


def _leaves_the_block(statement) -> bool:
    """A statement line that returns, raises, breaks or continues: the rest of its block is dead.

        >>> import libcst as cst
        >>> _leaves_the_block(cst.parse_statement("return x")), _leaves_the_block(cst.parse_statement("x = 1"))
        (True, False)
    """
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(s, (cst.Return, cst.Raise, cst.Continue, cst.Break)) for s in statement.body)


def _exits(body) -> bool:
    """The block ends in ``return``/``raise``/``continue`` (the code after it runs only otherwise)."""
    statements = block_statements(body)
    if not statements:
        return False
    last = statements[-1]
    if isinstance(last, cst.SimpleStatementLine):
        return any(isinstance(s, (cst.Return, cst.Raise, cst.Continue)) for s in last.body)
    return False


def _guard_within(test, ev: Evaluator) -> dict:
    """Inside ``if den > 0:``, ``if n:`` or ``if mask.sum():``, the tested value is nonzero: mark it
    guarded for the body; returns what to restore after it."""
    names = _nonzero_in(test, ev)
    if isinstance(test, cst.Name):
        names.append(_text(test))  # if n:
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 \
            and isinstance(test.comparisons[0].operator, cst.LessThan):
        bound = ev.facts(test.comparisons[0].comparator)
        if bound.literal == 0 and not bound.taint:
            names.append(_text(test.left))  # if x < 0: -sqrt(abs(x)) (x is negative there, so nonzero)
    return _mark_guarded(names, ev)


def _nonzero_in(test, ev: Evaluator) -> list[str]:
    """The texts of the values a test says are nonzero: ``den`` in ``if den > 0:``, ``den`` in
    ``if torch.any(den > 0):``, ``mask.sum()`` in ``if mask.sum():``."""
    names = list(nonzero_names(ev.facts(test)))
    if isinstance(test, cst.Call):  # if torch.any(den > 0):
        op = ev.op(test)
        if op is not None and op.name in ("any", "all", "reduce_any", "reduce_all") and op.args:
            names += nonzero_names(ev.facts(op.args[0]))
        if ev.facts(test).taint:
            names.append(_text(test))  # if mask.sum():
    return names


def _tests_nonzero(test, ev: Evaluator) -> bool:
    """``if w.sum() > 0:``, ``if mask.any():`` on a value of the loss: its other branch is the
    degenerate case (nothing to average), not the loss's behaviour. (``if torch.isnan(t).any():``
    is not: its other branch is the ordinary step.)"""
    return bool(_nonzero_in(test, ev)) and not _nonfinite_only(test)


def _mark_guarded(names, ev: Evaluator) -> dict:
    """Mark the named values guarded (known nonzero); returns their facts before, to restore."""
    saved = {}
    for name in names:
        if name and name in ev.env and not ev.env[name].guarded:
            saved[name] = ev.env[name]
            ev.env[name] = replace(ev.env[name], guarded=True)
        elif name and name.endswith(")") and name not in ev.guarded_texts:
            saved[name] = None  # an expression (``w.sum()``): guarded where the same text recurs
            ev.guarded_texts.add(name)
    return saved


def _unguard(saved: dict, ev: Evaluator) -> None:
    for name, facts in saved.items():
        if facts is None:
            ev.guarded_texts.discard(name)
        elif ev.env.get(name) is not None and ev.env[name].guarded:
            ev.env[name] = facts


_DEGENERATE = compile_lazily(r"numel\(\)\s*==\s*0|not\s.*\bany\(|len\(.*\)\s*==\s*0|\.sum\(\)\s*==\s*0|==\s*0\)\.all\(")


def _undo_branch(ev: Evaluator, before: dict) -> dict:
    """Put back the names a fallback branch assigned (the other branch starts from the values
    before the ``if``); returns what the branch assigned."""
    assigned = {name: facts for name, facts in ev.env.items() if before.get(name) is not facts}
    for name in assigned:
        if name in before:
            ev.env[name] = before[name]
        else:
            del ev.env[name]
    return assigned


def _keep_fallback_values(ev: Evaluator, before: dict, fallback: dict) -> None:
    """After the normal branch: a name only the fallback branch assigned keeps that value, without
    the batch sum of the empty batch's fallback."""
    for name, facts in fallback.items():
        if ev.env.get(name) is before.get(name):  # not assigned by the normal branch
            ev.env[name] = replace(facts, batch_sum=None)


def _is_degenerate_case(statement, ev: Evaluator) -> bool:
    """``if not torch.any(weight > 0): return (pred * weight).sum()``: an early exit for an empty or
    all-zero batch, whose "sum" is a zero that keeps the graph, not the loss's behaviour."""
    return _exits(statement.body) and bool(_DEGENERATE.search(_text(statement.test)))


_NONFINITE_TESTS = frozenset({"isnan", "isinf", "isneginf", "isposinf", "is_nan", "is_inf"})
_FINITE_TESTS = frozenset({"isfinite", "is_finite"})


def _nonfinite_only(test) -> bool:
    """The test holds only when some value is NaN or infinite: ``torch.isnan(t).any()``,
    ``math.isnan(v)``, ``not torch.isfinite(t).all()``, ``torch.any(torch.isinf(t))``.

        >>> import libcst as cst
        >>> [_nonfinite_only(cst.parse_expression(t)) for t in (
        ...     "torch.isnan(t).any()", "not torch.isfinite(loss).all()", "torch.isfinite(t).all()", "t.any()")]
        [True, True, False, False]
    """
    negated = isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)
    inner = test.expression if negated else test
    names = set()
    while isinstance(inner, cst.Call):
        name = terminal_name(inner.func)
        names.add(name)
        if name in _NONFINITE_TESTS | _FINITE_TESTS:
            break
        if name in ("any", "all", "reduce_any", "reduce_all", "item", "bool") and isinstance(inner.func, cst.Attribute) \
                and not inner.args:
            inner = inner.func.value  # t.isnan().any(), torch.isnan(t).any()
        elif name in ("any", "all", "reduce_any", "reduce_all") and inner.args:
            inner = inner.args[0].value  # torch.any(torch.isinf(t)), tf.reduce_any(tf.math.is_nan(t))
        else:
            return False
    found = names & (_NONFINITE_TESTS | _FINITE_TESTS)
    if not found or not isinstance(inner, cst.Call):
        return False
    reducer = names & {"all", "reduce_all"}
    if found & _NONFINITE_TESTS:
        return not negated and not reducer  # isnan(t).any(): some value is NaN
    return negated and not (names & {"any", "reduce_any"})  # not isfinite(t).all(): some value is not finite


def _tests_given_data(test, loss, ev: Evaluator) -> bool:
    """The NaN test reads data the loss was given, a parameter without the prediction's gradient
    or a slice of one (``torch.isnan(target)``: missing labels marked NaN, present in most
    batches of a sparse table), not a value the loss computed (a NaN there is a failure)."""
    tested = [a.value for n in all_nodes(test) if isinstance(n, cst.Call)
              and terminal_name(n.func) in _NONFINITE_TESTS | _FINITE_TESTS for a in n.args[:1]]
    params = set(loss.param_taints) if loss is not None else set()
    for value in tested:
        while isinstance(value, (cst.Subscript, cst.Attribute)) and not (
                isinstance(value, cst.Attribute) and isinstance(value.value, cst.Name) and value.value.value == "self"):
            value = value.value  # target[:, k], batch.y: a view of what was given
        if isinstance(value, cst.Name) and value.value in params and PRED not in ev.facts(value).taint:
            return True
    return False


def _zero_tested(test, ev: Evaluator) -> tuple:
    """The values the else of ``if test:`` knows nonzero: X of ``X == 0``, each side's of ``a == 0
    or b == 0`` (neither holds there), and for ``torch.equal(zero, x)`` x's whole reductions only."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        return _zero_tested(test.left, ev) + _zero_tested(test.right, ev)
    facts = ev.facts(test)
    if facts.whole_zero_of:
        return _whole_reductions(facts.whole_zero_of)
    return (facts.zero_of,) if facts.zero_of and not _equals_nonzero(test, ev) else ()


def _whole_reductions(name: str) -> tuple[str, ...]:
    """How a loss writes the whole-tensor reductions of ``name`` that are 0 only where all of it
    is: its sum of squares and its norm (the denominator of a correlation); other spellings, and
    single entries, stay unguarded."""
    return (f"torch.sum({name} ** 2)", f"torch.sum({name}**2)", f"torch.sum(torch.square({name}))",
            f"torch.sum({name} * {name})", f"({name} ** 2).sum()", f"({name}**2).sum()", f"{name}.pow(2).sum()",
            f"torch.norm({name})", f"{name}.norm()", f"torch.linalg.norm({name})")


def _equals_nonzero(test, ev: Evaluator) -> bool:
    """``x == 1``: its else branch says x != 1, which does not keep x away from 0."""
    return isinstance(test, cst.Comparison) and len(test.comparisons) == 1 \
        and isinstance(test.comparisons[0].operator, cst.Equal) \
        and ev.facts(test.comparisons[0].comparator).literal != 0


def _any_zero_of(test, ev: Evaluator) -> str | None:
    """``X`` in ``(X == 0).any()`` or ``torch.any(X == 0)``: after ``if ...: raise`` no entry of X is 0."""
    if not isinstance(test, cst.Call):
        return None
    op = ev.op(test)
    if op is None or op.name not in ("any", "reduce_any") or not op.args:
        return None
    return ev.facts(op.args[0]).zero_of if not _equals_nonzero(op.args[0], ev) else None


def _learn_nonzero(test, ev: Evaluator, asserted: bool = False) -> None:
    """After ``if den == 0: return`` (or ``assert den > 0``), ``den`` is known not to be 0."""
    if asserted and isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        _learn_nonzero(test.left, ev, asserted=True)  # assert (a > 0).all() and (b > 0).all()
        _learn_nonzero(test.right, ev, asserted=True)
        return
    facts = ev.facts(test)
    names = nonzero_names(facts) if asserted else _zero_tested(test, ev)  # if a == 0 or b == 0: return
    if isinstance(test, cst.Call) and asserted:  # assert (den > 0).all() / torch.all(den > 0)
        op = ev.op(test)
        if op is not None and op.name in ("all", "reduce_all") and op.args:
            names = nonzero_names(ev.facts(op.args[0]))
    if asserted:
        zeros = _counted_zeros(test, ev)
        if zeros is not None:
            names = (*names, zeros)
    _mark_guarded(names, ev)


def _learn_all_nonzero(test, ev: Evaluator) -> None:
    """``torch.all(p > 0)``, ``(p != 0).all()``: where it holds, no entry of p is 0."""
    if not isinstance(test, cst.Call):
        return
    op = ev.op(test)
    if op is None or op.name not in ("all", "reduce_all") or not op.args:
        return
    facts = ev.facts(op.args[0])
    if facts.nonzero_of is not None:
        _mark_guarded(nonzero_names(facts), ev)


def _counted_zeros(test, ev: Evaluator) -> str | None:
    """``X`` in ``assert (X == 0).sum().item() == 0`` or ``assert not (X == 0).any()``: no entry of
    ``X`` is zero."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        counted = test.expression
    elif isinstance(test, cst.Comparison) and len(test.comparisons) == 1 \
            and isinstance(test.comparisons[0].operator, cst.Equal) and ev.facts(test.comparisons[0].comparator).literal == 0:
        counted = test.left
    else:
        return None
    while isinstance(counted, cst.Call):
        op = ev.op(counted)
        if op is None or not op.args:
            return None
        if op.name in ("item", "int", "float"):
            counted = op.args[0]
            continue
        if op.name in ("sum", "any", "count_nonzero", "reduce_sum", "reduce_any"):
            return ev.facts(op.args[0]).zero_of
        return None
    return None


