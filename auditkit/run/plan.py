"""The plan of a run: what will be forwarded and what is skipped, built before anything runs.

For each suite: the requests its subject will answer (with the fallbacks that stand in for a
missing dataset, e.g. ImageNet-C made from val), every request or dataset that is skipped and why
(not present, not asked for with ``--datasets``, refused by the subject), the image count of each
request and whether the prediction store already holds it. ``audit run --dry-run`` prints it; the
runner executes it. Building a plan opens datasets (reads their file lists) and reads the store,
but forwards and writes nothing.
"""

from __future__ import annotations

import datetime as dt

from dataclasses import dataclass, field

from auditkit.data.source import DatasetSource
from auditkit.errors import AuditError, DamagedDataError
from auditkit.records import Notice, Skipped
from auditkit.run.config import RunConfig
from auditkit.subjects import Subject
from auditkit.suite import PredictionRequest, Suite

NOT_REQUESTED = "not requested (--datasets {})"


@dataclass
class SuitePlan:
    suite: Suite
    requests: list[PredictionRequest]  # what the subject is asked, fallbacks included, in the suite's order
    skipped: list[Skipped] = field(default_factory=list)  # known before anything runs, with reasons
    # the missing dataset each fallback request stands in for (ImageNet-C made from val)
    made_for: dict[PredictionRequest, str] = field(default_factory=dict)


@dataclass
class Plan:
    subject: str
    suites: list[SuitePlan]
    sources: dict[str, DatasetSource]  # every dataset opened, limited to --limit
    missing: dict[str, str]  # dataset -> why it could not be opened
    # request -> True (in the store), False (to forward), None (recorded answers: nothing forwarded)
    stored: dict[PredictionRequest, bool | None]
    notices: list[Notice] = field(default_factory=list)  # missing datasets made from others, with the cost
    # trained requests (finetune) -> what training them costs (``Subject.training_plan``)
    training: dict[PredictionRequest, dict] = field(default_factory=dict)

    def requests(self) -> list[PredictionRequest]:
        """Every request of every suite, once (a request several suites read is answered once)."""
        return list(dict.fromkeys(r for s in self.suites for r in s.requests))

    def images(self, request: PredictionRequest) -> int:
        return len(self.sources[request.dataset])

    def lines(self) -> list[str]:
        """The plan as text: per suite, each request with its image count and where its answers
        come from, then each skip with its reason."""
        forward = sum(self.training[r].get("test", 0) if r in self.training else self.images(r)
                      for r in self.requests() if self.stored[r] is False)
        count = len(self.requests())
        out = [f"plan for {self.subject}: {count} request{'' if count == 1 else 's'}, {forward} images to forward"]
        for plan in self.suites:
            settings = "".join(f" {k}={v}" for k, v in plan.suite.chosen_settings().items())  # its --option values
            out.append(f"{plan.suite.name} (v{plan.suite.version}):{settings}")
            for request in plan.requests:
                where = {True: "store", False: "forward", None: "recorded"}[self.stored[request]]
                output = request.output if request.model == "subject" else f"{request.output} of the reference model"
                made = f"  (stands in for {plan.made_for[request]})" if request in plan.made_for else ""
                if request in self.training:
                    out.append(f"  {request.dataset}  {request.condition}  {training_line(self.training[request], where)}")
                    continue
                out.append(f"  {request.dataset}  {request.condition}  {output}  {self.images(request)} images  "
                           f"{where}{made}")
            for skipped in plan.skipped:
                out.append(f"  skipped {skipped.dataset}: {skipped.reason}")
            if not plan.requests and not plan.skipped:
                out.append("  nothing to run")
        out.extend(f"note: {n.suite}: {n.message}" for n in self.notices)
        return out


def training_line(cost: dict, where: str) -> str:
    """One trained request in the plan: trained already, or the steps and time it would take."""
    if "refused" in cost:
        return f"skipped: {cost['refused']}"
    images = f"{cost['train']} train / {cost['val']} val / {cost['test']} test images"
    if where == "store":
        return f"{images}  store (trained, logits kept)"
    if cost["trained"]:
        return f"{images}  trained; forward {cost['test']} test images"
    seconds = cost["estimated_seconds"]
    time = (f"about {dt.timedelta(seconds=round(seconds))} (3 x the forward speed kept in the store)" if seconds
            else "time unknown until the model's forward speed is in the store (any run of it measures it)")
    resume = (f", resumes after epoch {cost['resumes_after_epoch']}" if cost["resumes_after_epoch"] is not None else "")
    return f"{images}  train: at most {cost['steps']} steps of {cost['batch_size']}{resume}, {time}"


def requested(suite: Suite, config: RunConfig) -> list[PredictionRequest]:
    """The suite's requests on the datasets ``--datasets`` names (all of them without it)."""
    return [r for r in suite.requests() if config.datasets is None or r.dataset in config.datasets]


def build_plan(subject: Subject, suites: list[Suite], config: RunConfig) -> Plan:
    """What ``subject`` will be asked for each suite, and what is skipped, before any forward pass."""
    sources: dict[str, DatasetSource] = {}
    missing: dict[str, str] = {}

    def opened(dataset: str) -> bool:
        if dataset not in sources and dataset not in missing:
            try:
                sources[dataset] = subject.open_dataset(dataset, config.data_root, config.data_overrides).limited(config.limit)
            except DamagedDataError:
                raise  # damaged data is refused, never planned as a skip
            except AuditError as error:
                missing[dataset] = str(error)
        return dataset in sources

    plans = []
    for suite in suites:
        plan = SuitePlan(suite, [])
        for dataset in dict.fromkeys(r.dataset for r in suite.requests()):
            if config.datasets is not None and dataset not in config.datasets:
                plan.skipped.append(Skipped(suite.name, dataset, NOT_REQUESTED.format(", ".join(config.datasets))))
        for request in requested(suite, config):
            if opened(request.dataset):
                refused = subject.refuses(request) or suite.unscorable(subject.name, subject.gives(request))
                if refused is None:
                    plan.requests.append(request)
                else:
                    plan.skipped.append(Skipped(suite.name, request.dataset, f"condition {request.condition}: {refused}"))
                continue
            # a missing dataset may be made from another (ImageNet-C from val): only if the subject
            # can answer every request that makes it (recorded val answers never stand in for them)
            made = suite.fallback_requests(request.dataset)
            if made and all(opened(r.dataset) and subject.refuses(r) is None for r in made):
                plan.requests.extend(made)
                plan.made_for.update({r: request.dataset for r in made})
            else:
                plan.skipped.append(Skipped(suite.name, request.dataset, missing[request.dataset]))
        plan.requests = list(dict.fromkeys(plan.requests))
        plan.skipped = list(dict.fromkeys(plan.skipped))
        plans.append(plan)
    requests = list(dict.fromkeys(r for p in plans for r in p.requests))
    stored = {r: subject.stored(r, sources[r.dataset]) for r in requests}
    training = {r: cost for r in requests if (cost := subject.training_plan(r, sources[r.dataset])) is not None}
    # what a reader could read but the user should know (an empty shard), before anything runs
    read_notices = [Notice("all suites", name, message)
                    for name, source in sources.items() for message in source.notices]
    return Plan(subject.name, plans, sources, missing, stored, read_notices + made_datasets(plans, sources, config),
                training)


def made_datasets(plans: list[SuitePlan], sources: dict[str, DatasetSource], config: RunConfig) -> list[Notice]:
    """A missing dataset made from another (ImageNet-C from val: 75 conditions, each a forward
    of every image), said before any forward pass, with the count and how to skip it."""
    notices = []
    every = list(dict.fromkeys(r.dataset for p in plans for r in requested(p.suite, config)))
    for plan in plans:
        for dataset in dict.fromkeys(plan.made_for.values()):
            made = [r for r, target in plan.made_for.items() if target == dataset]
            images = sum(len(sources[r.dataset]) for r in made)
            # --datasets applies to every suite of the run: name all their datasets but this one
            others = [d for d in every if d != dataset]
            skip = f"--datasets {','.join(others)}" if others else f"leave {plan.suite.name} out of --suites"
            message = (f"{dataset} is not present, so it is made from {', '.join(dict.fromkeys(r.dataset for r in made))}: "
                       f"{len(made)} conditions, {images} forward passes (fewer where the store has them); "
                       f"to skip it pass {skip}")
            notices.append(Notice(plan.suite.name, dataset, message))
    return notices
