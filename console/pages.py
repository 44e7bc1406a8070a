"""The console's pages for First Response and auditors: sign in, queue, notification,
sent, audit and (demo) mail. Every form carries the session's CSRF token; every action goes
through ``consumers.review``, the same functions the CLI and the API use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from audit import incremental, reports
from audit.ledger import AuditAction, record
from console import signin, views
from console.accounts import Throttled, authenticate
from console.auth import BadCsrf, NotSignedIn, Principal, SessionCookies, check_csrf, require
from console.signin import safe_next as _safe_next
from console.signin_csrf import SignInCsrf
from console.throttle import client_address
from consumers import held_account, review, review_lookups
from foundations.database import transaction
from foundations.models import Notification
from foundations.settings import Settings


@dataclass
class Console:
    settings: Settings
    sessions: sessionmaker[Session]
    templates: Jinja2Templates
    cookies: SessionCookies
    clock: Any
    signin: SignInCsrf

    def who(self, request: Request, session: Session) -> Principal:
        return self.cookies.principal(request, session, self.clock())

    def page(self, request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        values.setdefault("who", getattr(request.state, "principal", None))
        return self.templates.TemplateResponse(request, name, values, status_code=status)

    def sign_in_page(
        self, request: Request, *, status: int = 200, next: str = "/", error: str = ""
    ) -> HTMLResponse:
        """The sign-in form, with its own CSRF token (there is no session yet)."""
        nonce, token = self.signin.issue(request)
        response = self.page(
            request, "login.html.j2", status=status, next=_safe_next(next), error=error,
            who=None, oidc=bool(self.settings.oidc_issuer), csrf_token=token,
        )  # fmt: skip
        self.signin.set_cookie(response, nonce)
        return response


NO_IDS = Form([])  # the bulk form with nothing ticked


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def register(app: FastAPI, c: Console) -> None:
    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        with transaction(c.sessions) as session:
            try:
                who = c.who(request, session)
            except NotSignedIn:
                return _see_other("/login")
        return _see_other("/queue" if who.can_review else "/audit")

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> HTMLResponse:
        return c.sign_in_page(request, next=next)

    @app.post("/login", response_class=HTMLResponse)
    def login(
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        next: str = Form("/"),
        csrf_token: str = Form(""),
    ) -> Response:
        try:
            c.signin.check(request, csrf_token)
        except BadCsrf:  # checked before any password: another site cannot sign anyone in
            error = "The sign-in form had expired or came from another site. Please try again."
            return c.sign_in_page(request, status=403, next=next, error=error)
        address = client_address(request, c.settings)
        now, error, wait = c.clock(), "", None
        try:
            user = authenticate(c.sessions, c.settings, username, password, address=address,
                                now=now)  # fmt: skip
            if user is None:
                error = "The username or password is not right."
        except Throttled as throttled:
            user, wait = None, throttled
            error = f"Too many attempts. Wait {throttled.in_words} and try again."
        if user is None:
            page = c.sign_in_page(request, status=429 if wait else 401, next=next, error=error)
            if wait is not None:
                page.headers["Retry-After"] = str(wait.wait_s)
            return page
        with transaction(c.sessions) as session:
            token, target = signin.open_session(
                session, c.settings, user, now=now, via="password", next_url=next
            )
        response = _see_other(target)
        c.cookies.issue(response, token)
        return response

    @app.post("/logout")
    def logout(request: Request, csrf_token: str = Form("")) -> Response:
        signin.sign_out(request, c.cookies, c.sessions, c.clock, csrf_token)
        response = _see_other("/login")
        c.cookies.clear(response)
        return response

    @app.get("/queue", response_class=HTMLResponse)
    def queue_page(
        request: Request, la: str = "", school: str = "", status: str = ""
    ) -> HTMLResponse:
        with transaction(c.sessions) as session:
            who = require(c.who(request, session), review=True)
            rows, counts = views.queue_rows(
                session, c.settings, c.clock(), la=la, urn=school, status=status
            )
            held = views.held_rows(session, c.clock())
            return c.page(
                request, "queue.html.j2", who=who, rows=rows, counts=counts, held=held,
                filters={"la": la, "school": school, "status": status},
                labels=views.STATUS_LABELS,
                notice=request.query_params.get("notice", ""),
            )  # fmt: skip

    @app.post("/queue/approve")
    def bulk(request: Request, csrf_token: str = Form(""), ids: list[str] = NO_IDS) -> Response:
        with transaction(c.sessions) as session:
            who = require(c.who(request, session), review=True)
            check_csrf(who, csrf_token)
            done, refused = review.bulk_approve(session, c.settings, ids, actor=who.actor)
        notice = f"{len(done)} approved" + (f", {len(refused)} left for review" if refused else "")
        return _see_other("/queue?notice=" + quote(notice))

    @app.get("/notifications/{nid}", response_class=HTMLResponse)
    def notification_page(
        request: Request,
        nid: str,
        upn: str = "",
        dob: str = "",
        family: str = "",
        error: str = "",
    ) -> HTMLResponse:
        with transaction(c.sessions) as session:
            who = require(c.who(request, session), review=True)
            try:
                n = review.get(session, nid)
            except review.ReviewError:
                return c.page(request, "not_found.html.j2", status=404, who=who)
            review_lookups.record_view(session, n, actor=who.actor)
            found = []
            if "\x00" in upn + dob + family:
                upn, dob, family, error = "", "", "", "That search cannot be run."
            if upn or dob:
                try:
                    born = date.fromisoformat(dob) if dob else None
                except ValueError:
                    born, error = None, "Enter the date of birth as YYYY-MM-DD."
                found = [
                    {"upn": p.upn, "urn": p.urn, "school": s.name, "dob": p.date_of_birth,
                     "name": f"{p.given_names} {p.family_name}"}
                    for p, s in review_lookups.search_pupils(
                        session, n, actor=who.actor, upn=upn or None, date_of_birth=born,
                        family_name=family or None,
                    )
                ]  # fmt: skip
            return c.page(
                request, "notification.html.j2", who=who,
                search={"upn": upn, "dob": dob, "family": family, "results": found,
                        "searched": bool(upn or dob)},
                error=error, **views.detail(session, c.settings, n, c.clock()),
            )  # fmt: skip

    def act(request: Request, nid: str, csrf_token: str, action: Any) -> Response:
        """Claim and act in one transaction; a refused action comes back with its reason."""
        try:
            with transaction(c.sessions) as session:
                who = require(c.who(request, session), review=True)
                check_csrf(who, csrf_token)
                review.claim(session, c.settings, nid, actor=who.actor)
                message = action(session, who)
        except review.ReviewError as exc:
            return _see_other(f"/notifications/{quote(nid)}?error={quote(str(exc))}")
        if message is None:
            return _see_other(f"/notifications/{quote(nid)}")
        return _see_other("/queue?notice=" + quote(message))

    @app.post("/notifications/{nid}/claim")
    def claim(request: Request, nid: str, csrf_token: str = Form("")) -> Response:
        return act(request, nid, csrf_token, lambda s, w: None)

    @app.post("/notifications/{nid}/approve")
    def approve(
        request: Request,
        nid: str,
        csrf_token: str = Form(""),
        upn: str = Form(""),
        urn: str = Form(""),
    ) -> Response:
        def go(session: Session, who: Principal) -> str | None:
            n = review.approve(
                session, c.settings, nid, actor=who.actor, upn=upn or None, urn=urn or None
            )
            if n.status != "approved":
                return f"{nid}: first approval recorded; a second reviewer must approve it"
            review.release_claim(session, nid, actor=who.actor)
            return f"{nid} approved for {n.urn}: it will be sent now"

        return act(request, nid, csrf_token, go)

    @app.post("/notifications/{nid}/choose")
    def choose(
        request: Request, nid: str, csrf_token: str = Form(""), upn: str = Form(""),
        urn: str = Form(""),
    ) -> Response:  # fmt: skip
        def go(session: Session, who: Principal) -> None:
            review.rematch(session, c.settings, nid, actor=who.actor, upn=upn, urn=urn or None)

        return act(request, nid, csrf_token, go)

    @app.post("/notifications/{nid}/reject")
    def reject(
        request: Request, nid: str, csrf_token: str = Form(""), reason: str = Form("")
    ) -> Response:
        def go(session: Session, who: Principal) -> str:
            review.reject(session, nid, actor=who.actor, reason=reason)
            return f"{nid} rejected"

        return act(request, nid, csrf_token, go)

    @app.post("/notifications/{nid}/edit")
    def edit(
        request: Request, nid: str, csrf_token: str = Form(""), account: str = Form("")
    ) -> Response:
        def go(session: Session, who: Principal) -> None:
            review.edit_account(session, nid, actor=who.actor, account=account)

        return act(request, nid, csrf_token, go)

    def on_account(request: Request, nid: str, csrf_token: str, action: Any) -> Response:
        """Release or discard the officer's held account (any status: most are sent)."""
        try:
            with transaction(c.sessions) as session:
                who = require(c.who(request, session), review=True)
                check_csrf(who, csrf_token)
                message = action(session, who, review.get(session, nid))
        except (review.ReviewError, held_account.AccountError) as exc:
            return _see_other(f"/notifications/{quote(nid)}?error={quote(str(exc))}")
        return _see_other("/queue?notice=" + quote(message))

    @app.post("/notifications/{nid}/account/release")
    def release_account(
        request: Request,
        nid: str,
        csrf_token: str = Form(""),
        account: str = Form(""),
        as_read: str = Form(""),
    ) -> Response:
        def go(session: Session, who: Principal, n: Notification) -> str:
            text = None if as_read else account
            held_account.release(session, c.settings, n, actor=who.actor, account=text)
            if n.account_status == "follow_up":
                return f"{nid}: the officer's account will follow to the school now"
            return f"{nid}: the officer's account is in the notification"

        return on_account(request, nid, csrf_token, go)

    @app.post("/notifications/{nid}/account/discard")
    def discard_account(
        request: Request, nid: str, csrf_token: str = Form(""), reason: str = Form("")
    ) -> Response:
        def go(session: Session, who: Principal, n: Notification) -> str:
            held_account.discard(session, n, actor=who.actor, reason=reason)
            return f"{nid}: the officer's account was discarded; the school keeps what it has"

        return on_account(request, nid, csrf_token, go)

    @app.post("/notifications/{nid}/recall")
    def recall(
        request: Request, nid: str, csrf_token: str = Form(""), reason: str = Form("")
    ) -> Response:
        try:
            with transaction(c.sessions) as session:
                who = require(c.who(request, session), review=True)
                check_csrf(who, csrf_token)
                review.recall(session, c.settings, nid, actor=who.actor, reason=reason)
        except review.ReviewError as exc:
            return _see_other(f"/notifications/{quote(nid)}?error={quote(str(exc))}")
        return _see_other(
            f"/sent?notice={quote(nid + ' recalled: the school is asked to delete it')}"
        )

    @app.get("/sent", response_class=HTMLResponse)
    def sent_page(request: Request) -> HTMLResponse:
        with transaction(c.sessions) as session:
            who = require(c.who(request, session), review=True)
            return c.page(request, "sent.html.j2", who=who, rows=views.sent_rows(session),
                          notice=request.query_params.get("notice", ""))  # fmt: skip

    @app.get("/audit", response_class=HTMLResponse)
    def audit_page(
        request: Request,
        school: str = "",
        upn: str = "",
        incident: str = "",
        since: str = Query("", alias="from"),
        until: str = Query("", alias="to"),
        full: str = "",
    ) -> HTMLResponse:
        with transaction(c.sessions) as session:
            who = require(c.who(request, session), audit=True)
            error, rows = "", None
            if "\x00" in school + upn + incident + since + until:
                school, upn, incident, since, until = "", "", "", "", ""
                error = "That search cannot be run."
            try:
                query = reports.ReportQuery(
                    urn=school or None, upn=upn or None, incident_id=incident or None,
                    since=date.fromisoformat(since) if since else None,
                    until=date.fromisoformat(until) if until else None,
                )  # fmt: skip
            except ValueError:
                query, error = None, "Enter dates as YYYY-MM-DD."
            if query is not None and any(query.describe().values()):
                rows = reports.notification_rows(session, query)
                details = {"query": query.describe(), "rows": len(rows), "via": "console"}
                record(session, AuditAction.REPORT_PRODUCED, actor=who.actor, details=details)
            # Only rows and heads added since the last load; ?full=1 checks everything.
            verification = incremental.check(session, c.settings, full=bool(full))
            return c.page(
                request, "audit.html.j2", who=who, rows=rows, error=error,
                verification=verification,
                form={"school": school, "upn": upn, "incident": incident, "from": since,
                      "to": until},
            )  # fmt: skip

    @app.get("/mail", response_class=HTMLResponse)
    def mail_page(request: Request, name: str = "") -> HTMLResponse:
        with transaction(c.sessions) as session:
            who = require(c.who(request, session), review=True)
        folder = c.settings.data_dir / "demo-mail"
        files = sorted(folder.glob("*.eml"), reverse=True)[:200] if folder.is_dir() else []
        messages, shown = [], None
        for path in files:
            parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            item = {"name": path.name, "subject": parsed["subject"], "to": parsed["to"],
                    "date": parsed["date"]}  # fmt: skip
            messages.append(item)
            if path.name == name:
                body = parsed.get_body(("plain",))
                shown = {**item, "text": body.get_content() if body else ""}
        return c.page(request, "mail.html.j2", who=who, messages=messages, shown=shown,
                      demo=folder.is_dir())  # fmt: skip
