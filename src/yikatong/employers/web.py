"""The employer batch upload page (单位批量申领) and each batch's results.

The API takes the batch as JSON with base64 photos (POST /api/v1/applications/employer-batches);
an HR clerk has a spreadsheet and a folder of photos. This page takes a CSV (the columns in
`COLUMNS`, UTF-8 or the GB18030 a Chinese spreadsheet saves) and the photos as a zip or as
files, converts them into the API's own request shape (applications.schemas.EmployerBatchIn,
validated as the API validates it) and calls the same use case,
applications.service.submit_employer_batch. A file the API's shape refuses is refused whole
with every malformed cell listed (nothing is recorded); a well-formed row the rules refuse is
that row's result, as through the API.
"""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from yikatong.api.deps import current_actor, platform_dep
from yikatong.applications import service
from yikatong.applications.rules import APPLICATION_STATES
from yikatong.applications.schemas import EmployerBatchIn
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError
from yikatong.core.masking import mask_name
from yikatong.pages.navigation import N_
from yikatong.pages.rendering import render
from yikatong.people.photo import HARD_MAX_BYTES
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)

MAX_ROWS = 1000  # as EmployerBatchIn.employees


@dataclass(frozen=True)
class Column:
    name: str
    label: str  # message ids: the page explains every column
    example: str
    required: bool = True


COLUMNS = (
    Column("name", N_("Name as on the ID document"), "张三"),
    Column("document_type", N_("Document type (resident_id_card, passport, …)"), "resident_id_card"),
    Column("document_number", N_("Document number"), "320402199003070012"),
    Column("gender", N_("Gender: M or F"), "M"),
    Column("birth_date", N_("Birth date, YYYY-MM-DD"), "1990-03-07"),
    Column("nationality", N_("Nationality (CHN if empty)"), "CHN", required=False),
    Column("phone", N_("Mobile phone"), "13912345678", required=False),
    Column("address", N_("Address"), "常州市天宁区", required=False),
    Column("document_valid_until", N_("Document valid until, YYYY-MM-DD"), "2036-01-01",
           required=False),
    Column("bank_code", N_("Partner bank code (ICBC, CCB, …)"), "ICBC"),
    Column("pickup_outlet_code", N_("Outlet to collect the card (SS-TN-01, …)"), "SS-TN-01"),
    Column("photo_file", N_("Photo file name in the zip or among the files"), "zhangsan.jpg",
           required=False),
)
TEMPLATE_CSV = ",".join(c.name for c in COLUMNS) + "\r\n" + ",".join(c.example for c in COLUMNS) + "\r\n"


@dataclass(frozen=True)
class Problem:
    """One malformed cell of the upload: row 0 is the form (the employer and the agent)."""

    row: int
    column: str
    zh: str
    en: str


class MalformedUpload(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


# --- the CSV and photos into the API's request ------------------------------------------


def read_csv(data: bytes) -> list[dict[str, str]]:
    """The rows as column → text; UTF-8 (a BOM too), else GB18030 (Excel's Chinese CSV)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise MalformedUpload([Problem(0, "csv", "文件须为 UTF-8 或 GB18030 编码的 CSV",
                                           "the file must be a CSV in UTF-8 or GB18030")]) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [c.name for c in COLUMNS if c.required and c.name not in header]
    if missing:
        raise MalformedUpload([Problem(0, name, "缺少此列", "the column is missing")
                               for name in missing])
    rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    rows = [row for row in rows if any(row.values())]
    if not rows or len(rows) > MAX_ROWS:
        raise MalformedUpload([Problem(0, "csv", f"须有 1 至 {MAX_ROWS} 行员工数据",
                                       f"the file must have 1 to {MAX_ROWS} employees")])
    return rows


def read_photos(files: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """Photos by file name (no folders): each upload is a JPEG or a zip of them. A member
    larger than the photo rules' hard limit is read only up to it (the rules then refuse it)."""
    photos: dict[str, bytes] = {}
    for filename, data in files:
        if not filename:
            continue
        if filename.lower().endswith(".zip"):
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    for member in archive.infolist():
                        if not member.is_dir():
                            with archive.open(member) as stream:
                                photos[PurePosixPath(member.filename).name] = stream.read(
                                    HARD_MAX_BYTES + 1)
            except zipfile.BadZipFile:
                raise MalformedUpload([Problem(0, "photos", f"“{filename}”不是有效的 zip 文件",
                                               f"'{filename}' is not a valid zip file")]) from None
        else:
            photos[PurePosixPath(filename).name] = data
    return photos


def batch_request(form: dict[str, str], rows: list[dict[str, str]],
                  photos: dict[str, bytes]) -> EmployerBatchIn:
    """The API's request for this upload, validated as the API validates it."""
    problems = []
    employees = []
    for number, row in enumerate(rows, start=1):
        applicant = {c.name: row.get(c.name) or None for c in COLUMNS
                     if c.name not in ("bank_code", "pickup_outlet_code", "photo_file")}
        applicant["nationality"] = applicant["nationality"] or "CHN"
        photo_file = row.get("photo_file")
        if photo_file:
            if photo_file not in photos:
                problems.append(Problem(number, "photo_file", f"照片“{photo_file}”未上传",
                                        f"the photo '{photo_file}' was not uploaded"))
            else:
                applicant["photo_jpeg_base64"] = base64.b64encode(photos[photo_file]).decode()
        employees.append({"applicant": applicant, "bank_code": row.get("bank_code") or "",
                          "pickup_outlet_code": row.get("pickup_outlet_code") or ""})
    body = {"employer_name": form["employer_name"], "uscc": form["uscc"] or None,
            "authorisation_letter_ref": form["authorisation_letter_ref"] or None,
            "agent": {"name": form["agent_name"], "document_type": form["agent_document_type"],
                      "document_number": form["agent_document_number"],
                      "phone": form["agent_phone"] or None},
            "employees": employees}
    try:
        request = EmployerBatchIn.model_validate(body)
    except ValidationError as error:
        problems += [_problem(e["loc"], e["type"]) for e in error.errors()]
        request = None
    if problems:
        raise MalformedUpload(sorted(problems, key=lambda p: (p.row, p.column)))
    return request


def _problem(loc: tuple, kind: str) -> Problem:
    if loc and loc[0] == "employees" and len(loc) > 2:
        row, column = int(loc[1]) + 1, str(loc[-1])
    else:
        row, column = 0, "_".join(str(part) for part in loc)
    if kind == "missing" or kind.startswith("string_too_short"):
        return Problem(row, column, "必填", "required")
    return Problem(row, column, "不符合列说明的格式", "not in the format the column asks for")


# --- the pages ----------------------------------------------------------------------------

FORM_FIELDS = ("employer_name", "uscc", "authorisation_letter_ref", "agent_name",
               "agent_document_type", "agent_document_number", "agent_phone")


def _upload_form(request: Request, *, form: dict[str, str], problems=(), error=None,
                 status_code: int = 200):
    return render(request, "employers/batch_upload.html", {
        "form": form, "columns": COLUMNS, "problems": problems, "error": error},
        status_code=status_code)


@router.get("/employer/batches")
def upload_form(request: Request, actor: Actor = Depends(current_actor)):
    form = dict.fromkeys(FORM_FIELDS, "") | {"agent_document_type": "resident_id_card"}
    return _upload_form(request, form=form)


@router.get("/employer/batches/template.csv")
def template(actor: Actor = Depends(current_actor)):
    """The columns with one example row, UTF-8 with a BOM so a spreadsheet opens it right."""
    return Response(("\ufeff" + TEMPLATE_CSV).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="employer-batch.csv"'})


@router.post("/employer/batches")
async def upload(request: Request, csv_file: UploadFile = File(),
                 photos: list[UploadFile] = File(default=[]),
                 employer_name: str = Form(default="", max_length=128),
                 uscc: str = Form(default="", max_length=32),
                 authorisation_letter_ref: str = Form(default="", max_length=64),
                 agent_name: str = Form(default="", max_length=60),
                 agent_document_type: str = Form(default="", max_length=32),
                 agent_document_number: str = Form(default="", max_length=32),
                 agent_phone: str = Form(default="", max_length=20),
                 actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    form = dict(zip(FORM_FIELDS, (employer_name, uscc, authorisation_letter_ref, agent_name,
                                  agent_document_type, agent_document_number, agent_phone),
                    strict=True))
    uploads = [(csv_file.filename or "", await csv_file.read())]
    uploads += [(photo.filename or "", await photo.read()) for photo in photos]
    return await _submit(request, platform, actor, form, uploads)


async def _submit(request, platform, actor, form, uploads):
    from starlette.concurrency import run_in_threadpool

    try:
        body = batch_request(form, read_csv(uploads[0][1]), read_photos(uploads[1:]))
    except MalformedUpload as malformed:
        return _upload_form(request, form=form, problems=malformed.problems, status_code=422)
    try:
        batch = await run_in_threadpool(
            service.submit_employer_batch, uows=platform.uow, actor=actor,
            employer_name=body.employer_name, agent=body.agent.to_data(),
            employees=[e.to_row() for e in body.employees], uscc=body.uscc,
            authorisation_letter_ref=body.authorisation_letter_ref)
    except DomainError as error:
        return _upload_form(request, form=form, error=error, status_code=error.http_status)
    return RedirectResponse(f"/employer/batches/{batch.id}", status_code=303)


@router.get("/employer/batches/{batch_id}")
def batch_results(request: Request, batch_id: int, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    """Every row accepted or refused with its reason in words, each accepted application's
    status now; the employees' names masked (a list)."""
    with platform.uow(read_only=True) as uow:
        batch = service.get_employer_batch(uow=uow, actor=actor, batch_id=batch_id)
        now = {row.application_id: service.get_application(
                   uow=uow, actor=actor, application_id=row.application_id).status
               for row in batch.rows if row.application_id is not None}
    rows = [asdict(row) | {"name_masked": mask_name(row.name),
                           "status_now": now.get(row.application_id)} for row in batch.rows]
    return render(request, "employers/batch_results.html", {
        "batch": batch, "rows": rows, "application_states": APPLICATION_STATES})
