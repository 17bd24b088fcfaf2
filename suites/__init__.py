"""The suite registry: one line per suite, resolved lazily (``"module:Class"``)."""

from auditkit.registry import Registry
from auditkit.suite import Suite

SUITES: Registry[type[Suite]] = Registry("suite", base=Suite, classes=True)
SUITES.register("calibration", "suites.calibration.suite:CalibrationSuite")
SUITES.register("shape_bias", "suites.shape_bias.suite:ShapeBiasSuite")
SUITES.register("imagenet_x", "suites.imagenet_x.suite:ImageNetXSuite")
SUITES.register("robustness", "suites.robustness.suite:RobustnessSuite")
SUITES.register("invariance", "suites.invariance.suite:InvarianceSuite")
SUITES.register("pug", "suites.pug.suite:PugSuite")
SUITES.register("linear_probe", "suites.linear_probe.suite:LinearProbeSuite")
SUITES.register("cka", "suites.cka.suite:CkaSuite")
SUITES.register("adversarial", "suites.adversarial.suite:AdversarialSuite")
SUITES.register("human_ood", "suites.human_ood.suite:HumanOodSuite")
SUITES.register("finetune", "suites.finetune.suite:FinetuneSuite")
SUITES.register("ood", "suites.ood.suite:OodSuite")
SUITES.register("small_data", "suites.small_data.suite:SmallDataSuite")


def get_suite(name: str) -> Suite:
    return SUITES.get(name)()
SUITES.register("dense", "suites.dense.suite:DenseSuite")
