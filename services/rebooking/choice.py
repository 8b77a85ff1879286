"""The passenger's choice, over HTTP: a page for people and a JSON API beside it, both reached by
the signed link in the passenger's "new plan" message (services/rebooking/answers.py decides)."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import jinja2
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

from services.rebooking import links, page_words
from services.rebooking.answers import Answer, ChoiceProblem, Offer, answer, view
from services.rebooking.config import Config
from shared.http import GatedRoute, gate, inline_hashes, problem, secure_page
from shared.runtime import Database, service_config

_pages = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                            autoescape=True)
# The choice page's own inline blocks, hashed as the template has them (shared/http.py).
_PAGE_HASHES = inline_hashes((Path(__file__).parent / "templates" / "choice.html").read_text(encoding="utf-8"))


Configured = Annotated[Config, Depends(service_config)]

router = APIRouter(route_class=GatedRoute)


async def check_link(request: Request) -> None:
    """Only links we made get their answer read (an expired one still gets its page, saying so)."""
    try:
        links.verify(service_config(request).choice_keys, request.path_params["token"],
                     datetime.fromtimestamp(0, UTC))
    except links.InvalidLink as exc:
        raise HTTPException(403, f"Link not valid: {exc}") from exc


@gate(check_link)
async def our_link(request: Request) -> None:
    ...


@router.get("/v1/choices/{token}", response_model=Offer, tags=["choice"], operation_id="get_offer",
            responses={403: {"description": "Not our link"}, 410: {"description": "Expired"}})
async def get_offer(token: str, pool: Database, config: Configured) -> Offer | JSONResponse:
    """The new itinerary, other options with seats now, and the answer so far."""
    try:
        return await view(pool, config, token)
    except ChoiceProblem as p:
        return problem(p.status, p.title, p.detail)


@router.post("/v1/choices/{token}", response_model=Offer, tags=["choice"], operation_id="answer_offer",
             dependencies=[Depends(our_link)],
             responses={403: {"description": "Not our link"}, 409: {"description": "Conflicts"},
                        410: {"description": "Expired"}})
async def answer_offer(token: str, given: Answer, request: Request, pool: Database,
                       config: Configured) -> Offer | JSONResponse:
    """Accept the new itinerary, change to another option, or take a refund instead."""
    if given.answer == "change" and not given.option:
        return problem(422, "Invalid request", "`option` is required to change")
    try:
        return await answer(pool, config, token, given, f"api {request.headers.get('user-agent', '')}")
    except ChoiceProblem as p:
        return problem(p.status, p.title, p.detail)


def _language(request: Request) -> str:
    return page_words.language_for(request.query_params.get("lang"), request.headers.get("accept-language"))


@router.get("/choice/{token}", response_class=HTMLResponse, include_in_schema=False)
async def choice_page(token: str, request: Request, pool: Database, config: Configured) -> HTMLResponse:
    language = _language(request)
    try:
        return _page(await view(pool, config, token), token, language)
    except ChoiceProblem as p:
        return _page(None, token, language, problem=p)


@router.post("/choice/{token}", response_class=HTMLResponse, include_in_schema=False,
             dependencies=[Depends(our_link)])
async def choice_form(token: str, request: Request, pool: Database, config: Configured,
                      answer_: Annotated[Literal["accept", "change", "refund"], Form(alias="answer")],
                      option: Annotated[str | None, Form()] = None) -> HTMLResponse:
    language = _language(request)
    try:
        offer = await answer(pool, config, token, Answer(answer=answer_, option=option),
                             f"page {request.headers.get('user-agent', '')}")
        return _page(offer, token, language)
    except ChoiceProblem as p:
        try:
            return _page(await view(pool, config, token), token, language, problem=p)
        except ChoiceProblem:
            return _page(None, token, language, problem=p)


def _page(offer: Offer | None, token: str, language: str, problem: ChoiceProblem | None = None) -> HTMLResponse:
    html = _pages.get_template("choice.html").render(
        offer=offer, token=token, problem=problem, lang=language, w=page_words.WORDS[language],
        when=lambda moment, airport: page_words.when(moment, airport, language),
        problem_title=problem and page_words.PROBLEMS.get(problem.title, {}).get(language, problem.title),
        problem_help=page_words.PROBLEM_HELP[language])
    return secure_page(html, status_code=problem.status if problem and offer is None else 200, hashes=_PAGE_HASHES)
