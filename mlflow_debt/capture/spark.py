"""pyspark.ml capture: the outermost ``Estimator.fit`` on a Spark DataFrame records its features.

Imported only once ``pyspark.ml.base`` has been (by :mod:`mlflow_debt.capture.engines`).

**Features** are the input DataFrame's columns the fitted model actually reads, traced back
through its stages (:func:`trace`): every stage's input and output columns
(``inputCol(s)``/``outputCol(s)``, ``VectorAssembler.inputCols``, a selector's ``featuresCol``,
``SQLTransformer`` through Spark's analyzed plan), from each predictive stage's ``featuresCol``
back to the DataFrame. A column the pipeline only passes through is not a feature; a column
whose origin cannot be known is named in one warning, never guessed.

**Fingerprints** are computed by Spark (:mod:`mlflow_debt.capture.spark_profile`), alongside
the fit when the unfitted estimator already names the columns its model will read
(:func:`start_early`, :class:`Early`), else after it.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlflow_debt.capture import engines

_state: dict[str, Any] = {}
#: Every wrapper this module made -> the function it wraps. An autolog revert can put an old
#: wrapper of ours back in place; it is recognised, never wrapped twice, and undone.
_ours: dict[Any, Any] = {}

#: Stages that only rearrange columns: they add nothing to a feature's preprocessing chain.
WIRING = {"VectorAssembler", "VectorSizeHint", "ColumnPruner", "IndexToString"}
#: Param names that name columns (wiring, not part of a stage's definition).
_COLUMN_PARAM_SUFFIXES = ("Col", "Cols")


def patch(engine: str, base_module: Any) -> None:  # noqa: ARG001  engines' patch protocol
    estimator = base_module.Estimator
    if "fit" in _state:
        return
    original = estimator.__dict__["fit"]
    if original in _ours:  # ours already (put back by someone's revert)
        _state.update(fit=original, original=_ours[original], cls=estimator)
        return

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not engines.active():
            return original(self, *args, **kwargs)
        with engines.outermost("spark") as outer:
            dataset = args[0] if args else kwargs.get("dataset")
            params = args[1] if len(args) > 1 else kwargs.get("params")
            # A list of param maps fits several models: none is "the" model.
            several = isinstance(params, (list, tuple))
            early = start_early(self, dataset, params) if outer and not several else None
            try:
                model = original(self, *args, **kwargs)
            except BaseException:
                if early is not None:
                    early.cancel()
                raise
        if outer and not several:
            engines.safely("Spark", record_fit, self, model, dataset, early)
        return model

    _ours[fit] = original
    estimator.fit = fit
    _state.update(fit=fit, original=original, cls=estimator)


def unpatch(engine: str) -> None:  # noqa: ARG001  engines' patch protocol
    if "fit" not in _state:
        return
    cls = _state["cls"]
    current = cls.__dict__.get("fit")
    if current in _ours:
        while current in _ours:
            current = _ours[current]
        cls.fit = current
    # else: someone (autolog) wrapped ours; it passes straight through while inactive
    _state.clear()


# --- tracing ----------------------------------------------------------------------------------


@dataclass
class Trace:
    """What :func:`trace` found: the features in model order and their preprocessing chains."""

    features: list[str] = field(default_factory=list)
    chains: dict[str, str] = field(default_factory=dict)
    untraceable: list[str] = field(default_factory=list)


def _param(stage: Any, name: str) -> Any:
    try:
        if stage.hasParam(name) and stage.isDefined(name):
            return stage.getOrDefault(name)
    except Exception:  # noqa: BLE001  Spark/Py4J raise anything; capture never fails the fit
        return None
    return None


def _flatten(model: Any) -> list[Any]:
    stages = getattr(model, "stages", None)
    if isinstance(stages, list):
        return [s for st in stages for s in _flatten(st)]
    best = getattr(model, "bestModel", None)
    if best is not None and type(model).__name__.endswith(("ValidatorModel", "SplitModel")):
        return _flatten(best)
    return [model]


def _describe(stage: Any) -> str:
    name = type(stage).__name__
    try:
        pairs = []
        for param, value in stage.extractParamMap().items():
            if param.name.endswith(_COLUMN_PARAM_SUFFIXES):
                continue
            if value is None or isinstance(value, (str, int, float, bool)):
                pairs.append(f"{param.name}={value!r}")
            elif isinstance(value, (list, tuple)) and all(
                isinstance(v, (str, int, float, bool)) for v in value
            ):
                pairs.append(f"{param.name}={list(value)!r}")
        return f"{name}({','.join(sorted(pairs))})"
    except Exception:  # noqa: BLE001  Spark/Py4J raise anything; capture never fails the fit
        return f"{name}()"


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _columns(stage: Any) -> tuple[list[str], list[str], bool] | None:
    """(inputs, outputs, pairwise) of a column-wise stage, or None if it does not say."""
    outs = _as_list(_param(stage, "outputCols")) or _as_list(_param(stage, "outputCol"))
    ins = _as_list(_param(stage, "inputCols")) or _as_list(_param(stage, "inputCol"))
    if not ins and outs:
        ins = _as_list(_param(stage, "featuresCol"))  # selectors: featuresCol -> outputCol
    if not ins or not outs:
        return None
    return ins, outs, len(ins) == len(outs) and len(ins) > 1


def _model_inputs(stage: Any) -> list[str] | None:
    """The columns a predictive stage (a model with no ``outputCol``) reads."""
    if stage.hasParam("outputCol") or stage.hasParam("outputCols"):
        return None
    features = _as_list(_param(stage, "featuresCol"))
    if features:
        return features
    cols = [c for p in ("userCol", "itemCol", "itemsCol") for c in _as_list(_param(stage, p))]
    return cols or None


Lineage = list[tuple[str, tuple[str, ...]]]


def _sql_lineage(stage: Any, empty: Any) -> dict[str, list[str]] | None:
    """For a ``SQLTransformer``: output column -> the input columns it is computed from.

    Read from Spark's analyzed plan of the statement over an empty DataFrame (no job). Only a
    single projection over ``__THIS__`` is understood; anything else is None (untraceable).
    """
    schema = empty.schema
    out = stage.transform(empty)
    plan = out._jdf.queryExecution().analyzed()
    if plan.nodeName() != "Project":
        return None
    child = plan.child()
    while child.nodeName() in ("SubqueryAlias", "View"):
        child = child.child()
    in_ids = {}
    child_out = child.output()
    for i in range(child_out.size()):
        attr = child_out.apply(i)
        in_ids[attr.exprId().id()] = attr.name()
    if sorted(in_ids.values()) != sorted(schema.fieldNames()):
        return None
    result: dict[str, list[str]] = {}
    project = plan.projectList()
    for i in range(project.size()):
        expr = project.apply(i)
        refs = expr.references().toSeq()
        names = []
        for j in range(refs.size()):
            ref_id = refs.apply(j).exprId().id()
            if ref_id not in in_ids:
                return None
            names.append(in_ids[ref_id])
        if expr.nodeName() == "AttributeReference" and names == [expr.name()]:
            result[expr.name()] = []  # passed through unchanged
        else:
            result[expr.name()] = names
    return result


def _output_params(stage: Any) -> list[str]:
    """The columns a predictive stage writes (prediction, probability, ...)."""
    out = []
    for param in stage.params:
        if param.name.endswith("Col") and param.name not in _READ_PARAMS:
            out.extend(_as_list(_param(stage, param.name)))
    return out


#: Params of predictive stages that name columns they read, not write.
_READ_PARAMS = {
    "featuresCol",
    "labelCol",
    "weightCol",
    "userCol",
    "itemCol",
    "itemsCol",
    "censorCol",
    "ratingCol",
    "idCol",
    "srcCol",
    "dstCol",
    "quantilesCol",
}


def trace(  # noqa: C901  one walk over the stage kinds; split when a kind is added
    model: Any, schema: Any, spark: Any = None, stages: list[Any] | None = None
) -> Trace:
    """The columns of ``schema`` that the fitted ``model`` (or ``stages``) reads, in the order
    it sees them."""
    inputs = set(schema.fieldNames())
    vectors = {f.name for f in schema.fields if type(f.dataType).__name__ == "VectorUDT"}
    lineage: dict[str, Lineage] = {}
    opaque: dict[str, str] = {}  # column -> the stage that made it without saying how
    result = Trace()
    read: Lineage = []
    if stages is None:
        stages = _flatten(model)
    # The schema each stage sees, for the stages that must be asked (SQL, opaque ones): built
    # by transforming an empty DataFrame, which runs no job.
    kinds = [_kind(s) for s in stages]
    current = _empty(schema, spark) if any(k in ("sql", "opaque") for k in kinds) else None

    def resolve(col: str) -> Lineage | None:
        if col in lineage:
            return lineage[col]
        if col in opaque:
            result.untraceable.append(f"{col!r} (made by {opaque[col]})")
            return None
        if col in vectors:
            result.untraceable.append(f"{col!r} (a vector assembled before the fit)")
            return None
        if col in inputs:
            return [(col, ())]
        result.untraceable.append(f"{col!r} (not in the DataFrame)")
        return None

    def apply(outs: Iterable[str], sources: Lineage) -> None:
        for out in outs:
            lineage[out] = sources
            opaque.pop(out, None)

    for stage, kind in zip(stages, kinds):
        name = type(stage).__name__
        desc = None if name in WIRING else _describe(stage)
        if kind == "model":
            got: Lineage = []
            for col in _model_inputs(stage) or []:
                got.extend(resolve(col) or [])
            read.extend(got)
            apply(_output_params(stage), got)
        elif kind == "columns":
            ins, outs, pairwise = _columns(stage)  # type: ignore[misc]
            resolved = [resolve(c) or [] for c in ins]
            extra = (desc,) if desc else ()
            if pairwise:
                for out, src in zip(outs, resolved):
                    apply([out], [(s, chain + extra) for s, chain in src])
            else:
                apply(outs, [(s, chain + extra) for src in resolved for s, chain in src])
        else:
            sql = None
            if kind == "sql" and current is not None:
                try:
                    sql = _sql_lineage(stage, current)
                except Exception:  # noqa: BLE001  Spark/Py4J raise anything; capture never fails the fit
                    sql = None
            if sql is not None:
                new: dict[str, Lineage] = {}
                for out, refs in sql.items():
                    if not refs:
                        new[out] = resolve(out) or []
                    else:
                        src = [r for c in refs for r in (resolve(c) or [])]
                        new[out] = [(s, (*chain, desc or name)) for s, chain in src]
                passed = {c for c, refs in sql.items() if not refs}
                lineage.clear()
                lineage.update(new)
                inputs &= passed
            else:
                # A stage that does not say which columns it reads or writes (a custom
                # Transformer, an RFormula, an untraceable SQL statement): every column it
                # outputs is of unknown origin.
                made = _outputs(stage, current)
                if made is None:
                    result.untraceable.append(f"the output of {name}")
                    made = []
                for col in made:
                    opaque[col] = name
                    lineage.pop(col, None)
                inputs -= set(made)
        if current is not None:
            try:
                current = stage.transform(current)
            except Exception:  # noqa: BLE001  Spark/Py4J raise anything; capture never fails the fit
                current = None

    seen: dict[str, list[str]] = {}
    for column, stages_of in read:
        if column not in seen:
            result.features.append(column)
            seen[column] = []
        text = ">".join(stages_of)
        if text and text not in seen[column]:
            seen[column].append(text)
    result.chains = {c: "|".join(sorted(v)) for c, v in seen.items() if v}
    return result


def _kind(stage: Any) -> str:
    if _model_inputs(stage) is not None:
        return "model"
    if _columns(stage) is not None:
        return "columns"
    if type(stage).__name__ == "SQLTransformer":
        return "sql"
    return "opaque"


def _empty(schema: Any, spark: Any = None) -> Any:
    if spark is None:
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
    return spark.createDataFrame([], schema)


def _outputs(stage: Any, empty: Any) -> list[str] | None:
    """Every column an opaque stage outputs (its schema over an empty DataFrame; no job)."""
    if empty is None:
        return None
    try:
        return list(stage.transform(empty).schema.fieldNames())
    except Exception:  # noqa: BLE001  Spark/Py4J raise anything; capture never fails the fit
        return None


# --- profiling while the fit runs ---------------------------------------------------------------


def _unfitted_stages(estimator: Any) -> list[Any]:
    """The stages an unfitted estimator will fit, in order (a validator's candidates are its
    estimator's stages)."""
    from pyspark.ml import Pipeline

    if isinstance(estimator, Pipeline):
        return [s for stage in estimator.getStages() for s in _unfitted_stages(stage)]
    if type(estimator).__name__ in ("CrossValidator", "TrainValidationSplit"):
        return _unfitted_stages(estimator.getEstimator())
    return [estimator]


def _columns_before_fit(estimator: Any, dataset: Any, params: Any) -> list[str] | None:
    """The columns the fitted model will read, when the unfitted ``estimator`` says so alone:
    every stage names its columns (no SQL, no opaque stage, nothing that needs a schema), and
    all of them trace back to the DataFrame. None otherwise."""
    if isinstance(params, dict) and params:
        estimator = estimator.copy(params)
    stages = _unfitted_stages(estimator)
    if not stages or any(_kind(s) not in ("model", "columns") for s in stages):
        return None
    found = trace(None, dataset.schema, stages=stages)
    if found.untraceable or not found.features:
        return None
    return found.features


class Early:
    """The profiling job of a fit's columns, run on a second thread while the fit runs.

    The job is one small Spark job (:func:`~mlflow_debt.capture.spark_profile.raw`); run after
    the fit, its fixed cost is paid on top of it, run alongside it is mostly hidden by the fit's
    own jobs. The thread is pyspark's :class:`~pyspark.InheritableThread`, so the job carries
    the fit's local properties (job group, scheduler pool) and one job tag of its own, by which
    it is cancelled if the fit fails. Its result is taken only by :func:`record_fit`.
    """

    def __init__(self, dataset: Any, names: list[str]) -> None:
        import uuid

        from pyspark import InheritableThread

        self.names = names
        self.records: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.tag = f"mlflow-debt-{uuid.uuid4().hex}"
        self._context = dataset.sparkSession.sparkContext
        self._thread = InheritableThread(
            target=self._run, args=(dataset,), name="mlflow-debt-spark-profile", daemon=True
        )
        self._thread.start()

    def _run(self, dataset: Any) -> None:
        from mlflow_debt.capture import spark_profile

        try:
            with contextlib.suppress(Exception):
                self._context.setJobDescription("mlflow-debt: feature fingerprints")
            with contextlib.suppress(Exception):
                self._context.addJobTag(self.tag)
            self.records = spark_profile.raw(dataset, self.names)
        except BaseException as exc:  # noqa: BLE001  handed to record_fit, which warns once
            self.error = exc

    def join(self) -> None:
        """Wait for the job: a fit never returns while capture's job still runs."""
        self._thread.join()

    def result(self) -> dict[str, Any]:
        """The records, once the job is done; its error, if it failed."""
        self.join()
        if self.error is not None:
            raise self.error
        return self.records or {}

    def cancel(self) -> None:
        """The fit failed: the job is cancelled and its result never read."""
        with contextlib.suppress(Exception):
            self._context.cancelJobsWithTag(self.tag)


def _pinned_threads() -> bool:
    """Whether each Python thread has a JVM thread of its own (pyspark's default, not Spark
    Connect): only then are a thread's job tag and description its own."""
    from py4j.clientserver import ClientServer
    from pyspark import SparkContext

    return isinstance(SparkContext._gateway, ClientServer)


def start_early(estimator: Any, dataset: Any, params: Any) -> Early | None:
    """Start profiling the columns the fit will read, if they can be known before it; never
    raises (a fit whose columns cannot be known is profiled after it, by :func:`record_fit`)."""
    try:
        if not engines.active():
            return None
        from mlflow_debt import store

        if store.active_run_id() is None:
            return None
        from pyspark.sql import DataFrame

        if not isinstance(dataset, DataFrame) or not _pinned_threads():
            return None  # profiled after the fit
        names = _columns_before_fit(estimator, dataset, params)
        return Early(dataset, names) if names else None
    except Exception:  # noqa: BLE001  capture never fails the fit
        return None


# --- recording --------------------------------------------------------------------------------


def record_fit(estimator: Any, model: Any, dataset: Any, early: Early | None = None) -> None:
    """After an outermost fit: trace, profile with Spark (or take the job started with the
    fit), write to the active run. Returns only once the early job, if any, is done."""
    try:
        _record_fit(estimator, model, dataset, early)
    except BaseException:  # an interrupt while waiting, or a failure: the job's result is moot
        if early is not None:
            early.cancel()
        raise
    finally:
        if early is not None:
            early.join()


def _record_fit(estimator: Any, model: Any, dataset: Any, early: Early | None) -> None:
    from mlflow_debt import store

    run_id = store.active_run_id()
    if run_id is None:
        return  # outside a run: never create one
    from pyspark.sql import DataFrame

    if not isinstance(dataset, DataFrame):
        return
    found = trace(model, dataset.schema, dataset.sparkSession)
    label = type(estimator).__name__
    if found.untraceable:
        engines.warn_once(
            run_id,
            "spark:untraceable",
            f"mlflow-debt: {label}.fit reads columns whose origin it cannot trace, so they are "
            f"not recorded: {', '.join(dict.fromkeys(found.untraceable))}.",
        )
    if not found.features:
        return
    from mlflow_debt.capture import spark_profile

    raw = early.result() if early is not None else {}
    missing = [n for n in found.features if n not in raw]
    if missing:  # the fitted model reads a column the unfitted one did not name
        raw = {**raw, **spark_profile.raw(dataset, missing)}
    records = spark_profile.with_chains(raw, found.features, found.chains)
    engines.record(records, f"spark:{label}", model)
