"""One audit run: plan, answer, evaluate, write.

model spec -> Subject -> (PredictionStore) -> Suite -> MetricRecord[] -> report. Every
(dataset, condition) the chosen suites request is answered once per subject however many suites
read it; a live model's answers come from the store when present, so a repeated audit does no
forward pass and an interrupted one resumes at the first missing shard.

Skips are recorded in two places only: the plan (known before anything runs) and
``refusal`` below (an answer the subject could not give, or one the suite cannot score), so no
request ever ends without records or a reason.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from auditkit import conditions
from auditkit.adapters.base import ModelAdapter
from auditkit.records import Notice, RunResults, Skipped
from auditkit.run.config import RunConfig, check_config
from auditkit.run.executor import ForwardLog
from auditkit.run.header import RunHeader, follower_header
from auditkit.run.live import make_subject
from auditkit.run.plan import Plan, build_plan
from auditkit.run.writer import collect
from auditkit.store import PredictionStore
from auditkit.subjects import Answer, Subject, Unavailable
from auditkit.suite import Predictions, PredictionRequest, Suite
from suites import get_suite


def load_suites(config: RunConfig) -> list[Suite]:
    suites = [get_suite(name) for name in config.suites]
    for suite in suites:
        suite.configure(config.suite_options.get(suite.name, {}))  # --option SUITE.NAME=VALUE
    return suites


def plan_audit(model: ModelAdapter | Subject, config: RunConfig) -> Plan:
    """The plan ``run_audit`` would execute (``audit run --dry-run``): nothing forwarded or written."""
    from auditkit.data.catalog import looking_only

    check_config(config)
    subject = make_subject(model, config, PredictionStore(config.cache_dir / "store"), ForwardLog())
    try:
        with looking_only():  # a dry run downloads and builds nothing: absent datasets say what a run would do
            return build_plan(subject, load_suites(config), config)
    finally:  # planning makes no collective; the group torchrun made is left before exit (Ranks.leave)
        subject.ranks.leave()


def run_audit(model: ModelAdapter | Subject, config: RunConfig) -> RunResults:
    """Run the suites on a live model (forward passes through the store) or a recorded observer."""
    check_config(config)
    log = ForwardLog()
    subject = make_subject(model, config, PredictionStore(config.cache_dir / "store"), log)
    started = time.time()
    try:  # a plan that fails (a missing dataset) leaves the group too, on every rank
        plan = build_plan(subject, load_suites(config), config)
        for notice in plan.notices:  # said before the first forward pass: it may take hours
            print(f"{notice.suite}: {notice.message}", file=sys.stderr, flush=True)
        answers = {request: subject.answer(request, plan.sources[request.dataset]) for request in plan.requests()}
    finally:  # the ranks' last collective is behind them: leave the group now, not at exit (Ranks.leave)
        subject.ranks.leave()
    if not subject.ranks.leader:  # every shard is in the store; rank 0 evaluates and writes, once
        return RunResults(header=follower_header(subject.ranks.rank, subject.ranks.world))

    results = RunResults(header={})
    protocol: dict[str, dict[str, Any]] = {}  # what suites say about the protocol they ran (baselines, settings)
    for suite_plan in plan.suites:
        suite = suite_plan.suite
        results.skipped.extend(suite_plan.skipped)
        wanted: dict[PredictionRequest, Predictions] = {}
        for request in suite_plan.requests:
            answer = answers[request]
            reason = refusal(suite, answer)
            if reason is None:
                wanted[request] = answer  # type: ignore[assignment]
            else:
                results.skipped.append(Skipped(suite.name, request.dataset, f"condition {request.condition}: {reason}"))
        for dataset in dict.fromkeys(suite_plan.made_for.values()):  # made only in part: the dataset is missing
            if any(r not in wanted for r, made in suite_plan.made_for.items() if made == dataset):
                results.skipped.append(Skipped(suite.name, dataset, plan.missing[dataset]))
        if not wanted:
            continue
        output = suite.evaluate(subject.name, wanted, seed=config.seed)
        if not output.records and not output.skipped:  # never nothing: say that the suite found nothing to score
            for dataset in dict.fromkeys(r.dataset for r in wanted):
                output.skipped.append(Skipped(suite.name, dataset, f"{suite.name} computed no metric from the "
                                              f"answers it was given ({', '.join(_answered(wanted))})"))
        collect(suite, output, results, config.out_dir)
        settings = suite.chosen_settings()
        if output.header or settings:
            protocol[suite.name] = {**({"settings": settings} if settings else {}), **output.header}
    for dataset, ids in log.undecodable.items():
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        results.notices.append(Notice("all suites", dataset, f"{len(ids)} images could not be decoded and "
                                      f"were left out (--bad-images skip): {shown}"))
    results.notices.extend(plan.notices)
    results.skipped = list(dict.fromkeys(results.skipped))
    results.header = header(subject, plan, config, log, time.time() - started, protocol).to_json()
    results.write(config.out_dir)
    return results


def refusal(suite: Suite, answer: Answer) -> str | None:
    """Why ``suite`` gets no score from ``answer``: the subject could not answer, or answered
    with nothing the suite scores (``Suite.accepts`` against ``Predictions.answered``)."""
    if isinstance(answer, Unavailable):
        return answer.reason
    return suite.unscorable(answer.model_name or "the subject", answer.answered)


def _answered(predictions: dict[PredictionRequest, Predictions]) -> list[str]:
    return list(dict.fromkeys(kind for p in predictions.values() for kind in p.answered))


def header(
    subject: Subject, plan: Plan, config: RunConfig, log: ForwardLog, seconds: float,
    protocol: dict[str, dict[str, Any]],
) -> RunHeader:
    return RunHeader(
        command=config.command,
        model=subject.describe(),
        datasets={name: source.describe() for name, source in plan.sources.items()},
        suites={s.suite.name: s.suite.version for s in plan.suites},
        conditions={f"{r.dataset}/{r.condition}": conditions.describe(r.condition) for r in plan.requests()},
        imagenet_c=imagenet_c_origin(plan),
        seed=config.seed,
        device=config.device,
        batch_size=config.batch_size,
        limit=config.limit,
        images_forwarded=log.forwarded,
        images_from_store=log.from_store,
        bad_images=config.bad_images,
        precision=config.precision,
        model_facts=subject.facts(),
        undecodable_images_skipped=log.undecodable,
        seconds=round(seconds, 2),
        world_size=subject.ranks.world,
        reference_model=subject.reference(),
        suite_protocols=protocol or None,
    )


def imagenet_c_origin(plan: Plan) -> str | None:
    """Which ImageNet-C images the run saw: the released files, or made on the fly (and by
    which implementation); None when no suite asked for ImageNet-C."""
    if "imagenet-c" in plan.sources:
        return f"released files ({plan.sources['imagenet-c'].root})"
    if any(isinstance(r.condition, conditions.Corruption) for r in plan.requests()):
        from auditkit.data.corruptions import describe

        return f"made on the fly: {describe()}"
    return None
