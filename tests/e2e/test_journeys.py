"""Journeys through the real doors: `ykt serve` in its own process, everything over HTTP, as the
platform's users live them (the outlet, the card centre, the holder online, the bank branch,
12333, the citizen-card outlet, the transit operator)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.e2e.world import ECARD_PASSWORD, Citizen, applicant_json

pytestmark = [pytest.mark.usefixtures("watch_server"), pytest.mark.own_database]  # a server on a database of the e2e suite's own (YKT_E2E_DB)


def test_a_fresh_database_starts_like_make_run(server):
    """`make run` on a fresh machine: `ykt serve` migrates an empty database and answers."""
    assert server.schema_lag == []


def test_a_citizen_from_the_counter_to_the_ecard(world):
    outlet, admin = world.staff("outlet"), world.staff("admin")
    citizen = world.apply_at_outlet()
    submitted = world.get(f"applications/{citizen.application_id}", as_=outlet)
    assert submitted["status"] == "submitted" and submitted["fee_en"].lower().startswith("free")
    assert world.post(f"applications/{citizen.application_id}/approve", as_=outlet)["status"] == "approved"
    card_no = world.produce(citizen.application_id)
    produced = world.get(f"applications/{citizen.application_id}", as_=admin)
    assert produced["status"] == "produced" and produced["issue_date"]
    face = world.call("GET", f"applications/{citizen.application_id}/face.png", as_=outlet)
    assert face.headers["content-type"] == "image/png" and face.content.startswith(b"\x89PNG")
    card = world.card(card_no)  # the factory personalised the chip
    assert card.pan.startswith("621226")  # ICBC's example BIN
    handed = world.hand_over_at_outlet(citizen.application_id)
    assert handed["status"] == "handed_over" and handed["activation_code"]
    citizen.activation_code = handed["activation_code"]

    holder = world.sign_up(citizen)
    me = world.get("auth/me", as_=holder)
    assert me["role"] == "holder" and me["person_id"] == citizen.person_id
    [listed] = world.get("cards", as_=holder)
    assert listed["card_no"] == card_no and listed["ssn_masked"] != citizen.ssn
    mine = world.card_view(card_no, as_=holder)
    assert (mine["state"], mine["hr_status"], mine["financial_status"]) == ("in_use", "normal", "inactive")
    assert card.pan not in str(mine) and mine["pan_masked"].endswith(card.pan[-4:])

    ecard = world.wait_for_ecard(citizen)
    assert ecard["card_no"] == card_no and ecard["state"] == "active"
    assert not any(channel["usable"] for channel in ecard["channels"])  # nothing before consent
    refused = world.call("POST", "ecard/qr", as_=holder, expect=403,
                         json={"channel": "official_app", "password": ECARD_PASSWORD})
    assert refused.json()["code"] == "ecard_refused"
    consented = world.post("ecard/me/channels/official_app/consent", as_=holder)
    assert [c["code"] for c in consented["channels"] if c["usable"]] == ["official_app"]
    world.call("PUT", "ecard/me/password", as_=holder, json={"new_password": ECARD_PASSWORD})
    shown = world.post("ecard/qr", as_=holder, json={"channel": "official_app", "password": ECARD_PASSWORD})
    png = world.call("GET", "ecard/qr.png", as_=holder, params={"channel": "official_app"})
    assert png.headers["content-type"] == "image/png"

    verified = world.post("ecard/verify", json={"token": shown["token"]})  # public: no login
    assert verified["genuine"] and verified["valid"] and verified["card_status"] == "normal"
    assert verified["ssn_masked"].startswith(citizen.ssn[:6]) and verified["ssn_masked"].endswith(citizen.ssn[-4:])
    answer = str(verified)
    assert citizen.ssn not in answer and citizen.name not in answer and ecard["ecard_no"] not in answer
    assert citizen.ssn[6:14] not in answer  # the birth date is masked too


def _qr(world, citizen, expect=(200, 201)):
    return world.call("POST", "ecard/qr", as_=citizen.holder, expect=expect,
                      json={"channel": "official_app", "password": ECARD_PASSWORD}).json()


def test_activation_losses_and_unblocks_between_the_bank_12333_and_the_ecard(world):
    from datetime import datetime, timedelta

    icbc, agent = world.staff("icbc"), world.staff("agent12333")
    citizen = world.citizen_with_card()
    holder = citizen.holder
    world.use_ecard(citizen)
    card = world.card(citizen.card_no)  # the teller reads the account number from the chip
    account = f"banks/ICBC/accounts/{card.pan}"  # the bank opened it from the card.produced event
    assert world.get(account, as_=icbc)["status"] == "not_activated"

    activated = world.post(f"{account}/activation", as_=icbc,
                           json={"id_document_checked": True, "card_checked": True})
    assert activated["status"] == "active"
    assert world.card_view(citizen.card_no, as_=holder)["financial_status"] == "active"

    # 12333 takes a temporary loss of the HR function: 7 days, derived on every read
    lost = world.post(f"cards/{citizen.card_no}/loss", as_=agent, json={"kind": "temporary"})["card"]
    assert lost["hr_status"] == "temporary_loss" and lost["financial_status"] == "active"
    [block] = lost["blocks_in_force"]
    assert (block["channel"], block["set_by_role"], block["kind"]) == ("phone_12333", "phone_agent_12333",
                                                                        "temporary_loss")
    started, ends = datetime.fromisoformat(block["started_at"]), datetime.fromisoformat(block["ends_at"])
    assert ends - started == timedelta(hours=168)
    assert datetime.fromisoformat(lost["hr_loss_ends_at"]) == ends
    assert world.card_view(citizen.card_no, as_=holder)["hr_status"] == "temporary_loss"  # not over yet
    assert _qr(world, citizen, expect=403)["details"]["reason"] == "needs_reauthorisation"
    online = world.call("POST", f"cards/{citizen.card_no}/unblock", as_=holder, json={}, expect=(403, 409, 422))
    assert online.json()["code"] and "12333" in online.json()["title"] + online.json()["title_en"]
    unblocked = world.post(f"cards/{citizen.card_no}/unblock", as_=agent, json={})
    assert unblocked["card"]["hr_status"] == "normal" and [b["id"] for b in unblocked["lifted"]] == [block["id"]]
    before_loss = _qr(world, citizen)["token"]

    # the holder reports the card formally lost at a branch of its bank: both functions
    at_branch = world.post(f"{account}/losses", as_=icbc, json={"kind": "formal_loss"})
    assert at_branch["status"] == "formal_loss"
    view = world.card_view(citizen.card_no, as_=holder)
    assert (view["hr_status"], view["financial_status"]) == ("formal_loss", "formal_loss")
    assert {b["channel"] for b in view["blocks_in_force"]} == {"bank_branch"}
    ecard = world.get("ecard/me", as_=holder)
    assert ecard["card_status"] == "formal_loss" and ecard["reason"] == "card_lost", ecard
    assert _qr(world, citizen, expect=403)["details"]["reason"] == "needs_reauthorisation"
    stale = world.post("ecard/verify", json={"token": before_loss})
    assert stale["genuine"] and not stale["valid"] and stale["card_status"] == "formal_loss"

    # the phone was not lost: the holder re-authorises the e-card on the channel
    world.post("ecard/me/channels/official_app/reauthorise", as_=holder, json={"password": ECARD_PASSWORD})
    fresh = world.post("ecard/verify", json={"token": _qr(world, citizen)["token"]})
    assert fresh["valid"], fresh
    assert world.get("ecard/me", as_=holder)["state"] == "restricted"

    # unblocked at the branch (the channel of the loss): card, account and e-card usable again
    assert world.post(f"{account}/unblock", as_=icbc)["status"] == "active"
    view = world.card_view(citizen.card_no, as_=holder)
    assert (view["hr_status"], view["financial_status"], view["blocks_in_force"]) == ("normal", "active", [])
    assert world.get("ecard/me", as_=holder)["state"] == "active"
    assert world.post("ecard/verify", json={"token": _qr(world, citizen)["token"]})["valid"]


def test_replacement_after_an_online_formal_loss_retires_the_lost_card(world, server):
    """李静 is on file in the (synthetic) population registry: the online channel can fetch her
    base data and photo, so she can apply for the replacement from home."""
    import subprocess
    import sys
    from pathlib import Path

    outlet, admin = world.staff("outlet"), world.staff("admin")
    name, ssn = "李静", "32040419851120002X"
    first = world.post("applications", as_=outlet, expect=201, json={
        "applicant": applicant_json(name, ssn, date(1985, 11, 20), "F"),
        "bank_code": "ICBC", "pickup_outlet_code": "SS-TN-01"})
    world.post(f"applications/{first['id']}/approve", as_=outlet)
    old_card = world.produce(first["id"])
    code = world.hand_over_at_outlet(first["id"])["activation_code"]
    citizen = Citizen(name, ssn, date(1985, 11, 20), "F", first["id"], first["person_id"], old_card,
                      activation_code=code)
    holder = world.sign_up(citizen, channel="online_app")
    world.use_ecard(citizen)
    old_ecard = world.get("ecard/me", as_=holder)

    loss = world.post(f"cards/{old_card}/loss", as_=holder, json={"kind": "formal"})
    assert loss["card"]["hr_status"] == "formal_loss" and loss["referral"]["zh"]  # the bank side: at the bank
    assert loss["card"]["blocks_in_force"][0]["channel"] == "online_app"
    replacement = world.post("applications/online", as_=holder, expect=201,
                             headers={"Idempotency-Key": f"replace-{old_card}"},
                             json={"name": name, "id_number": ssn, "auth_evidence": "face-check-ticket",
                                   "kind": "replacement", "bank_code": "ICBC", "delivery": "ems_cod",
                                   "mailing_address": "江苏省常州市钟楼区示例路 2 号", "phone": "13900000002"})
    assert (replacement["kind"], replacement["channel"], replacement["predecessor_card_no"]) == (
        "replacement", "online", old_card)
    assert replacement["person_id"] == first["person_id"] and replacement["delivery_note_zh"]
    world.post(f"applications/{replacement['id']}/approve", as_=outlet)

    # the card centre's operator runs production from the command line against the same database
    ykt = Path(sys.executable).with_name("ykt")
    run = subprocess.run([str(ykt), "production", "run", "--poll-interval", "0"], env=server.env,
                         capture_output=True, text=True, timeout=120, cwd=server.root)
    assert run.returncode == 0, run.stdout + run.stderr
    produced = world.get(f"applications/{replacement['id']}", as_=holder)
    assert produced["status"] == "produced" and produced["card_no"] not in (None, old_card)
    new_card = produced["card_no"]
    world.post(f"applications/{replacement['id']}/ship", as_=admin, json={"tracking_no": "EA123456789CN"})
    received = world.post(f"applications/{replacement['id']}/hand-over", as_=holder)  # the holder signs for it
    assert received["status"] == "handed_over"

    old = world.card_view(old_card, as_=holder)
    assert old["state"] != "in_use" and old["successor_card_no"] == new_card, old
    refused = world.call("POST", f"cards/{old_card}/unblock", as_=holder, json={}, expect=(409, 422))
    assert refused.json()["code"] and refused.json()["title"] and refused.json()["title_en"]
    new = world.card_view(new_card, as_=holder)
    assert (new["state"], new["hr_status"], new["predecessor_card_no"]) == ("in_use", "normal", old_card)
    ecard = world.get("ecard/me", as_=holder)
    assert ecard["ecard_no"] == old_ecard["ecard_no"] and ecard["card_no"] == new_card  # re-bound, no new e-card
    assert world.post("ecard/verify", json={"token": _qr(world, citizen)["token"]})["valid"]


# --- transit ----------------------------------------------------------------------------------


def ride(server, card, place, terminal_id: str, moments):
    """Taps at one validator (offline: its PSAM holds the platform's purchase key)."""
    from yikatong.chip.psam import Psam
    from yikatong.transit.validator import Validator

    validator = Validator(Psam(server.keystore(), terminal_id=bytes.fromhex(terminal_id)), place)
    results = [validator.tap(card.present(), moment) for moment in moments]
    card.put_away()
    assert all(tap.accepted for tap in results), [tap.refusal for tap in results]
    return validator, sum(tap.amount for tap in results)


def upload(world, operator: str, validator, file_id: str) -> dict:
    """The operator uploads the validator's batch; the same file again answers the same."""
    batch = terminal_batch(validator, file_id=file_id)
    text = {"Content-Type": "text/plain; charset=utf-8"}
    uploaded = world.post("clearing/batches", as_=world.staff(operator), content=batch, expect=201, headers=text)
    again = world.call("POST", "clearing/batches", as_=world.staff(operator), content=batch, headers=text)
    assert again.json() == uploaded  # idempotent per batch
    return uploaded


def terminal_batch(validator, file_id: str) -> str:
    """The validator's end-of-day batch file: each record with the card kind and rider the
    validator read at its tap."""
    from datetime import datetime

    from yikatong.clearing.simulation import record_at, terminal_file
    from yikatong.core.clock import CST

    records = [record_at(r, validator.place) for r in validator.drain()]
    return terminal_file(validator, records, file_id=file_id, created=datetime.now(CST))


def test_transit_top_up_taps_clearing_refund_and_exchange(world, server):
    from datetime import datetime, timedelta

    from yikatong.core.clock import CST

    counter, admin, outlet = world.staff("citizen-outlet"), world.staff("admin"), world.staff("outlet")
    citizen = world.citizen_with_card()
    card = world.card(citizen.card_no)
    asn = world.card_view(citizen.card_no)["asn"]
    order = world.top_up(counter, card, 5000, key=f"counter-{citizen.card_no}-1")
    assert card.balance == 5000
    assert world.get(f"transit/top-ups/{order['order_no']}", as_=counter)["state"] == "done"

    from yikatong.transit.validator import bus, metro_entry, metro_exit

    now = datetime.now(CST).replace(microsecond=0)
    on_bus, bus_fares = ride(server, card, bus("3040", "1", "CZBUS"), "304001000042",
                             [now - timedelta(hours=3), now - timedelta(hours=1)])
    gate_in, entry_fare = ride(server, card, metro_entry("3040", "0101", "CZMETRO"), "304002000001",
                               [now - timedelta(minutes=50)])
    gate_out, exit_fare = ride(server, card, metro_exit("3040", "0103", "CZMETRO"), "304002000002",
                               [now - timedelta(minutes=30)])
    fares = bus_fares + entry_fare + exit_fare
    assert bus_fares > 0 and exit_fare > 0 and card.balance == 5000 - fares

    uploaded = upload(world, "transit", on_bus, f"CZBUS-{citizen.card_no}")  # the bus company
    assert (uploaded["records"], uploaded["cleared"], uploaded["rejected"]) == (2, 2, 0), uploaded
    for gate in (gate_in, gate_out):  # the metro company
        assert upload(world, "metro", gate, f"CZMETRO-{gate.terminal_id}-{citizen.card_no}")["rejected"] == 0
    days = sorted({(now - timedelta(hours=h)).date() for h in (3, 0.5)})
    report = {day: world.get(f"clearing/settlement/{day}", as_=admin) for day in days}
    owed = {operator: sum(line["amount"] for day in days for line in report[day]["lines"]
                          if line["operator"] == operator) for operator in ("CZBUS", "CZMETRO")}
    assert owed["CZBUS"] >= bus_fares and owed["CZMETRO"] >= entry_fare + exit_fare, owed
    assert all(r["reconciled"] for r in report.values()), report
    shadow = world.get(f"clearing/cards/{asn}/shadow-balance", as_=counter)
    assert shadow == {"asn": asn, "shadow_balance": card.balance}

    # an exchange (damaged card) waits for the wallet refund, which only a direct outlet does
    exchange = {"applicant": citizen.applicant(), "kind": "exchange", "exchange_reason": "damage",
                "bank_code": "ICBC", "pickup_outlet_code": "SS-TN-01"}
    held = world.call("POST", "applications", as_=outlet, json=exchange, expect=(409, 422))
    assert "退" in held.json()["title"] and held.json()["code"], held.json()
    refund = world.contact(counter, card, purpose="refund", card_no=citizen.card_no)
    assert refund["state"] == "done" and refund["result"]["amount"] == 5000 - fares, refund
    assert world.get(f"transit/wallet-refunds/{citizen.card_no}", as_=citizen.holder)["state"] == "refunded"
    assert asn in world.get("transit/deny-list", as_=world.staff("transit"))["added"]

    app = world.post("applications", as_=outlet, json=exchange, expect=201)
    world.post(f"applications/{app['id']}/approve", as_=outlet)
    new_card = world.produce(app["id"])
    world.hand_over_at_outlet(app["id"])
    old = world.card_view(citizen.card_no, as_=citizen.holder)
    assert old["state"] != "in_use" and old["successor_card_no"] == new_card
    assert world.card_view(new_card, as_=citizen.holder)["hr_status"] == "normal"
    tasks = world.get("banks/ICBC/closure-tasks", as_=world.staff("icbc"))
    assert citizen.card_no in [task["card_no"] for task in tasks]


def test_an_unblock_cancels_the_undelivered_replacement_and_a_death_revokes_the_ecard(world):
    from yikatong.ecard.status_list import bit_is_set

    outlet, admin = world.staff("outlet"), world.staff("admin")
    citizen = world.citizen_with_card()
    holder, old_card = citizen.holder, citizen.card_no
    world.use_ecard(citizen)
    world.post(f"cards/{old_card}/loss", as_=holder, json={"kind": "formal"})
    replacement = world.post("applications", as_=outlet, expect=201, json={
        "applicant": citizen.applicant(), "kind": "replacement", "bank_code": "ICBC",
        "pickup_outlet_code": "SS-TN-01"})
    assert replacement["predecessor_card_no"] == old_card
    world.post(f"applications/{replacement['id']}/approve", as_=outlet)
    new_card = world.produce(replacement["id"])  # made, not yet handed over
    assert world.card_view(new_card)["state"] == "produced"

    # the holder finds the old card before collecting the new one: unblock online, where the loss was
    unblocked = world.post(f"cards/{old_card}/unblock", as_=holder, json={})
    assert unblocked["card"]["hr_status"] == "normal" and unblocked["cancelled_replacements"], unblocked
    assert world.get(f"applications/{replacement['id']}", as_=admin)["status"] == "cancelled"
    assert world.card_view(new_card)["state"] not in ("produced", "in_use")
    refused = world.call("POST", f"applications/{replacement['id']}/hand-over", as_=outlet, expect=(409, 422))
    assert refused.json()["code"]
    ecard = world.get("ecard/me", as_=holder)
    assert (ecard["card_no"], ecard["state"]) == (old_card, "active")
    shown = _qr(world, citizen)["token"]
    assert world.post("ecard/verify", json={"token": shown})["valid"]

    # the holder dies: the outlet cancels the card, the e-card is revoked everywhere
    world.post(f"cards/{old_card}/deceased", as_=outlet, json={"note": "死亡证明 No. 2026-001 / death certificate"})
    assert world.card_view(old_card)["state"] != "in_use"
    assert world.get("ecard/lookup", as_=outlet, params={"card_no": old_card})["state"] == "revoked"
    assert not world.post("ecard/verify", json={"token": shown})["valid"]
    # terminals offline learn it from the signed list, republished when the revocation is recorded
    world.eventually(lambda: world.get("ecard/lookup", as_=outlet, params={"card_no": old_card})["revoked_at"])
    world.eventually(lambda: bit_is_set(world.get("ecard/status/revocation")["credentialSubject"]["encodedList"],
                                        ecard["status_index"]))


def test_an_employer_batch_and_two_counters_reporting_one_card_at_once(world, server):
    import subprocess
    import sys
    import threading
    from pathlib import Path

    employer, outlet, agent = world.staff("employer"), world.staff("outlet"), world.staff("agent12333")
    name, ssn, birth, gender = world.new_person()
    _, clerk_ssn, clerk_birth, _ = world.new_person()
    broken = world.new_person()
    bad_ssn = broken[1][:-1] + ("0" if broken[1][-1] != "0" else "1")  # wrong check digit
    batch = world.post("applications/employer-batches", as_=employer, expect=201, json={
        "employer_name": "常州示例精密机械有限公司", "authorisation_letter_ref": "WT-2026-0042",
        "agent": {"name": "单位经办人", "document_type": "resident_id_card", "document_number": clerk_ssn},
        "employees": [{"applicant": applicant_json(name, ssn, birth, gender), "bank_code": "ICBC",
                       "pickup_outlet_code": "SS-TN-01"},
                      {"applicant": applicant_json(broken[0], bad_ssn, broken[2], broken[3]), "bank_code": "ICBC",
                       "pickup_outlet_code": "SS-TN-01"}]})
    assert (batch["accepted"], batch["rejected"]) == (1, 1), batch
    accepted, rejected = batch["rows"]
    assert rejected["code"] and rejected["reason_zh"] and rejected["reason_en"] and not rejected["application_id"]
    assert world.get(f"applications/employer-batches/{batch['id']}", as_=employer) == batch
    application = world.get(f"applications/{accepted['application_id']}", as_=outlet)
    assert (application["mode"], application["employer_batch_id"]) == ("employer", batch["id"])
    world.post(f"applications/{application['id']}/approve", as_=outlet)
    card_no = world.produce(application["id"])
    world.hand_over_at_outlet(application["id"])

    # two counters report the same card at the same moment: exactly one wins
    version = world.card_view(card_no)["version"]
    answers: list[int] = []

    def report() -> None:
        answers.append(world.raw("POST", f"/api/v1/cards/{card_no}/loss", headers=agent,
                                 json={"kind": "temporary", "expected_version": version}).status_code)

    reporters = [threading.Thread(target=report) for _ in range(4)]
    for reporter in reporters:
        reporter.start()
    for reporter in reporters:
        reporter.join()
    assert sorted(answers) == [200, 409, 409, 409], answers
    assert len(world.card_view(card_no)["blocks_in_force"]) == 1

    # the operator runs the background jobs by hand against the same database: nothing breaks
    ykt = Path(sys.executable).with_name("ykt")
    jobs = subprocess.run([str(ykt), "worker", "--once"], env=server.env, capture_output=True, text=True,
                          timeout=120, cwd=server.root)
    assert jobs.returncode == 0 and "Traceback" not in jobs.stdout + jobs.stderr, jobs.stdout + jobs.stderr
    assert world.card_view(card_no)["hr_status"] == "temporary_loss"  # 7 days are not over
    assert world.post(f"cards/{card_no}/unblock", as_=agent, json={})["card"]["hr_status"] == "normal"


def test_a_name_correction_leads_to_an_exchange_and_the_old_account_is_closed(world):
    outlet, admin, icbc = world.staff("outlet"), world.staff("admin"), world.staff("icbc")
    citizen = world.citizen_with_card()
    card = world.card(citizen.card_no)
    account = f"banks/ICBC/accounts/{card.pan}"
    pension = world.call("POST", f"{account}/credits", as_=icbc, expect=202,
                         json={"request_id": f"pension-{card.card_no}", "amount_fen": 250_000, "payer": "养老金"})
    assert pension.json()["status"] == "held" and pension.json()["reason_zh"]  # not activated yet (四.9)
    activated = world.post(f"{account}/activation", as_=icbc, json={"id_document_checked": True, "card_checked": True})
    assert activated["balance_fen"] == 250_000 and activated["held_payments"] == 0

    # the counter can redeem the holder's e-card code once
    world.use_ecard(citizen)
    token = _qr(world, citizen)["token"]
    redeem = {"token": token, "business": "social_insurance_enquiry", "terminal_id": "SS-TN-01-T1"}
    assert world.post("ecard/redeem", as_=outlet, json=redeem)["used"]
    replayed = world.call("POST", "ecard/redeem", as_=outlet, json=redeem, expect=422)
    assert replayed.json()["details"]["reason"] == "replayed"

    # the registered name changes: maker-checker, then an exchange card with the new name
    new_name = citizen.name + "然"
    correction = world.post(f"people/{citizen.person_id}/corrections", as_=outlet, expect=201,
                            json={"changes": {"name": new_name}, "reason": "户籍姓名变更 / name changed at the registry"})
    maker = world.call("POST", f"people/corrections/{correction['id']}/approve", as_=outlet, json={"reason": "ok"},
                       expect=403)
    assert maker.json()["code"] == "maker_cannot_approve"
    assert world.post(f"people/corrections/{correction['id']}/approve", as_=admin, json={"reason": "证件核验无误"})[
        "status"] == "approved"
    assert world.get(f"people/{citizen.person_id}", as_=citizen.holder)["name"] == new_name
    exchange = {"applicant": {**citizen.applicant(), "name": new_name}, "kind": "exchange",
                "exchange_reason": "info_change", "bank_code": "ICBC", "pickup_outlet_code": "SS-TN-01"}
    unknown_wallet = world.call("POST", "applications", as_=outlet, json=exchange, expect=409)
    assert unknown_wallet.json()["code"] == "transit_balance_not_refunded"  # never read: not known to be empty
    phone = {**citizen.holder, "X-Ykt-Channel": "online_app"}
    assert world.contact(phone, card, purpose="read")["result"]["balance"] == 0  # the holder's phone reads it
    application = world.post("applications", as_=outlet, json=exchange, expect=201)
    world.post(f"applications/{application['id']}/approve", as_=outlet)
    new_card = world.produce(application["id"])
    world.hand_over_at_outlet(application["id"])
    assert world.get("ecard/me", as_=citizen.holder)["card_no"] == new_card

    # the old account closes at the bank once its money has moved to the new card's account
    [task] = [t for t in world.get("banks/ICBC/closure-tasks", as_=icbc) if t["card_no"] == card.card_no]
    assert (task["successor_card_no"], task["balance_fen"]) == (new_card, 250_000)
    moved = world.post(f"{account}/transfers", as_=icbc, json={
        "request_id": f"move-{card.card_no}", "to_account": world.card(new_card).pan, "amount_fen": 250_000})
    assert moved["status"] == "posted" and moved["balance_fen"] == 0
    closed = world.post(f"banks/ICBC/closure-tasks/{task['task_id']}/complete", as_=icbc)
    assert closed["status"] == "completed"
    old_view = world.card_view(card.card_no)  # the bank closed it; the platform says the card is over
    assert (old_view["financial_status"], old_view["bank_financial_status"]) == ("retired", "closed")
    new_account = world.get(f"banks/ICBC/accounts/{world.card(new_card).pan}", as_=icbc)
    assert (new_account["status"], new_account["held_payments"]) == ("not_activated", 1)


def test_a_card_too_damaged_to_read_is_exchanged_at_once_and_refunded_later(world):
    counter, outlet = world.staff("citizen-outlet"), world.staff("outlet")
    citizen = world.citizen_with_card(signed_up=False)
    card = world.card(citizen.card_no)
    asn = world.card_view(citizen.card_no)["asn"]
    world.top_up(counter, card, 3000, key=f"counter-{citizen.card_no}-1")
    deny_version = world.get("transit/deny-list", as_=world.staff("transit"))["version"]

    # the chip no longer answers: the counter registers it; validators refuse the wallet from now on
    waiting = world.post("transit/wallet-refunds/unreadable", as_=counter, json={"card_no": citizen.card_no},
                         expect=201)
    assert waiting["state"] == "waiting", waiting
    delta = world.get("transit/deny-list", as_=world.staff("transit"), params={"since": deny_version})
    assert asn in delta["added"]
    exchange = {"applicant": citizen.applicant(), "kind": "exchange", "exchange_reason": "damage",
                "card_unreadable": True, "bank_code": "ICBC", "pickup_outlet_code": "SS-TN-01"}
    application = world.post("applications", as_=outlet, json=exchange, expect=201)  # not held back (四.13)
    world.post(f"applications/{application['id']}/approve", as_=outlet)
    new_card = world.produce(application["id"])
    world.hand_over_at_outlet(application["id"])
    assert world.card_view(citizen.card_no)["successor_card_no"] == new_card
    refund = world.get(f"transit/wallet-refunds/{citizen.card_no}", as_=counter)
    assert refund["state"] == "waiting" and refund["kind"] == "unreadable", refund  # paid from records after the wait
