"""Answer files: the CSV schemas recorded answers come in, and their readers.

Two schemas, shared by the recorded observers (``auditkit.adapters.observers``), the suites that
write answers in another benchmark's format (shape_bias, human_ood, imagenet_x) and export:

- model-vs-human's trial-level decisions (``DECISION_COLUMNS``): subj, session, trial, rt,
  object_response, category, condition, imagename (its ``raw-data/<dataset>/*.csv``);
- imagenet_x's top-1 predictions (``PREDICTION_COLUMNS``): file_name, predicted_class,
  predicted_probability.

Reading them is data, not a model: this module sits in the data layer so suites and export use
the schemas without importing an adapter.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from auditkit.errors import AuditError

DECISION_COLUMNS = ("subj", "session", "trial", "rt", "object_response", "category", "condition", "imagename")
PREDICTION_COLUMNS = ("file_name", "predicted_class", "predicted_probability")


def to_csv(columns: tuple[str, ...], rows: Iterable[Iterable[object]]) -> str:
    """Rows in one of the schemas above, as CSV text (the export twin of the readers here)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def csv_files(path: Path, kind: str) -> list[Path]:
    """The CSV files of a ``decisions`` / ``predictions`` path: the file, a folder's CSVs, or
    (decisions) one subfolder of CSVs per dataset."""
    if not path.exists():
        raise AuditError(f"{kind} {path} does not exist; give a CSV file or a folder of CSVs")
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files and kind == "decisions":  # one subfolder per dataset: model-vs-human's raw-data layout
        files = sorted(path.glob("*/*.csv"))
    if not files:
        raise AuditError(f"{kind} folder {path} holds no .csv files")
    return files


def read_text(file: Path) -> str:
    """A CSV's (or gzipped CSV's) text, decoded as UTF-8 whatever the locale.

    ``utf-8-sig`` drops the byte-order mark Excel's "CSV UTF-8" starts with (read as plain UTF-8
    it would glue itself to the first column's name, and ``subj`` would be reported missing).
    Another encoding (Latin-1, Windows-1252) is refused naming the line of the first byte that is
    not UTF-8: decoding the whole file at once gives that byte's true offset."""
    try:
        data = gzip.decompress(file.read_bytes()) if file.suffix == ".gz" else file.read_bytes()
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError; a cut stream an EOFError
        raise AuditError(f"{file} is not a whole gzip file ({error}); copy it again, or unpack it "
                         "and give the .csv") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise AuditError(f"{file}:{line}: byte {data[error.start]:#04x} is not UTF-8; re-save the file "
                         "as UTF-8 (in Excel: Save As, CSV UTF-8)") from None


# what Excel writes instead of commas where the decimal mark is a comma, or as "Text (Tab delimited)"
_OTHER_DELIMITERS = {";": "semicolons (;)", "\t": "tabs"}


def read_rows(file: Path, required: tuple[str, ...], schema: tuple[str, ...]) -> list[dict[str, str]]:
    """A CSV's (or gzipped CSV's) rows as dicts; missing ``required`` columns are refused, and
    a file whose columns are separated by semicolons or tabs is named as such (not read: a
    decimal comma in such a file would be a column of its own in a comma-separated one)."""
    # newline="": line ends (CRLF from Excel too) are left to the csv module, as its docs ask
    reader = csv.DictReader(io.StringIO(read_text(file), newline=""))
    fields = reader.fieldnames or []
    missing = [c for c in required if c not in fields]
    if missing:
        header = ",".join(fields)
        for delimiter, said in _OTHER_DELIMITERS.items():
            if all(c in header.split(delimiter) for c in required):
                raise AuditError(f"{file}: its columns are separated by {said}, not commas; re-save it as "
                                 "comma-separated CSV (in Excel: Save As, CSV UTF-8)")
        raise AuditError(f"{file} lacks columns {missing}; expected the columns {', '.join(schema)}")
    return list(reader)


@dataclass(frozen=True)
class Trials:
    """One row per trial: which stimulus, which answer, which subject, which dataset."""

    sample_ids: np.ndarray  # released stimulus file names where the name gives them (see read_decisions)
    responses: np.ndarray  # the 16-class answer, or "na"
    subjects: np.ndarray
    files: tuple[Path, ...]
    datasets: np.ndarray | None = None  # catalog name per row (cue-conflict, mvh-colour, ...)
    # (catalog dataset name, message): what was read but the user should know (dropped copies of
    # trials, answers outside the 16 categories, a file of "na" answers only)
    notices: tuple[tuple[str, str], ...] = ()

    def notices_for(self, dataset: str) -> tuple[str, ...]:
        return tuple(message for name, message in self.notices if name == dataset)


def decision_dataset(file: Path, rows: list[dict[str, str]]) -> Any:
    """The model-vs-human dataset a decisions file holds: its name's prefix, else its image names."""
    from auditkit.data.cue_conflict import STIMULUS
    from auditkit.data.model_vs_human import BY_NAME, SESSION_NAME

    prefix = file.name.split("_")[0]
    if prefix in BY_NAME:
        return BY_NAME[prefix]
    names = [row["imagename"] for row in rows]
    if names and all(STIMULUS.match(n.rsplit("_", 1)[-1]) for n in names):
        return BY_NAME["cue-conflict"]  # cue-conflict names say so whatever the file is called
    matches = [SESSION_NAME.match(n) for n in names]
    if names and all(matches):
        found = {d.name for d in BY_NAME.values() for m in matches if m["code"] == d.code
                 and (not d.parametric or m["condition"] in d.conditions)}
        if len(found) == 1:
            return BY_NAME[found.pop()]
    raise AuditError(f"{file}: cannot tell which model-vs-human dataset it holds; name it "
                     "<dataset>_<observer>_session-1.csv as model-vs-human does (e.g. colour_resnet50_session-1.csv)")


def read_decisions(files: list[Path]) -> Trials:
    """Trials of model-vs-human decision files. Sample ids are the released file names where the
    recorded name gives them: cue-conflict, edge and silhouette names end in the released name
    (human sessions prefix it); a model's session name is the released one (``..._dnn_...``); a
    human's session name is kept as recorded (its trial number is the subject's own).

    A trial (dataset, subject, session, trial, image) recorded twice counts once: an exact copy of its
    row is dropped with a notice giving the count, two rows that disagree are refused (which
    one is the subject's answer cannot be guessed). A file with a header and no trial is refused;
    answers outside the 16 categories and a file of "na" answers only are read with a notice
    (both count as wrong answers)."""
    from auditkit.data.cue_conflict import CATEGORIES
    from auditkit.data.model_vs_human import image_id, parse_name

    ids, responses, subjects, datasets = [], [], [], []
    notices: list[tuple[str, str]] = []
    seen: dict[tuple[str, ...], tuple[Path, int, dict[str, str]]] = {}
    copies: dict[str, int] = {}
    for file in files:
        rows = read_rows(file, ("subj", "object_response", "category", "imagename"), DECISION_COLUMNS)
        if not rows:
            raise AuditError(f"{file} holds only its header, no trial; give a file with one row per trial "
                             "(or leave it out)")
        dataset = decision_dataset(file, rows)
        answers = []
        for line, row in enumerate(rows, 2):
            name = row["imagename"]
            category = parse_name(dataset, name).category
            if row["category"] != category:
                raise AuditError(f"{file}:{line}: category {row['category']!r} but the image is a {category}")
            # edge and silhouette share image names (airplane1.png): a trial is one dataset's
            trial = (dataset.catalog_name, row["subj"], row.get("session", ""), row.get("trial", ""), name)
            if trial in seen:
                first_file, first_line, first_row = seen[trial]
                if first_row != row:
                    raise AuditError(f"{file}:{line}: subject {trial[1]}'s trial {trial[3] or '?'} on {name} is also "
                                     f"at {first_file}:{first_line}, with other values; keep the one that is right")
                copies[dataset.catalog_name] = copies.get(dataset.catalog_name, 0) + 1
                continue
            seen[trial] = (file, line, row)
            answers.append(row["object_response"].strip())
            ids.append(image_id(name) if not dataset.sessions else name)
            subjects.append(row["subj"])
            datasets.append(dataset.catalog_name)
        responses.extend(answers)
        unknown = [a for a in answers if a not in CATEGORIES and a != "na"]
        if unknown:
            shown = ", ".join(repr(a) for a in dict.fromkeys(unknown[:50]))
            notices.append((dataset.catalog_name, f"{file.name}: {len(unknown)} answers are not one of the 16 "
                            f"categories ({shown}); they are scored as wrong answers"))
        if answers and all(a == "na" for a in answers):
            notices.append((dataset.catalog_name, f"{file.name}: every answer is 'na' (no response); "
                            "its trials are scored as wrong answers"))
    notices += [(name, f"{count} trials recorded twice, with the same values, were counted once")
                for name, count in copies.items()]
    return Trials(np.array(ids), np.array(responses), np.array(subjects), tuple(files), np.array(datasets),
                  tuple(notices))


def read_predictions(files: Iterable[Path]) -> dict[str, tuple[int, float]]:
    """file_name -> (predicted_class, predicted_probability) of imagenet_x prediction files;
    a class outside ImageNet's 1000 or a file predicted twice is refused with its line."""
    predictions: dict[str, tuple[int, float]] = {}
    for file in files:
        for line, row in enumerate(read_rows(file, PREDICTION_COLUMNS, PREDICTION_COLUMNS), 2):
            try:
                value = (int(row["predicted_class"]), float(row["predicted_probability"]))
            except ValueError:
                raise AuditError(f"{file}:{line}: predicted_class must be an integer and "
                                 "predicted_probability a number") from None
            if not 0 <= value[0] < 1000:
                raise AuditError(f"{file}:{line}: predicted_class {value[0]} is not an ImageNet class")
            if row["file_name"] in predictions:
                raise AuditError(f"{file}:{line}: {row['file_name']} is predicted twice")
            predictions[row["file_name"]] = value
    return predictions
