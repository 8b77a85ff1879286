"""Type B traffic as networks deliver it, unwrapped into messages. Pure: no I/O.

What arrives is rarely the bare message text of the manuals:
- the transport's control characters: SOH before the heading, STX before the text, ETX after it
  (a message boundary), and CR LF line ends;
- a heading: the priority and address line (`QU NYCOOB6`), the origin line with the sending
  time (`.JFKOOB6 080640`), sometimes a signature or a `COR` (correction) before the message;
- SITA Type X envelopes (`=HEADER` `RCV,2014/02/19 06:03`, `=PRIORITY`, `=DESTINATION TYPE B`,
  `=ORIGIN`, `=DBLSIG`, `=MSGID`, `=SMI`, `=TEXT`), where the message identifier may be given only
  as the `=SMI`;
- ACARS downlinks converted to Type B: an ACARS label as the SMI (`A80`, `A81`), `FI` (flight)
  and `DT` (ground station and time) lines, and text that begins after a `-`: an MVA or MVT, or
  an OOOI report (under ARINC 620's labels `QP`-`QS`, or with OUT/OFF/ON/IN times), which has no
  identifier and is given the identifier `OOOI` from its label line on;
- free text after the message: a blank line, then `ALL TIME UTC` or `BRGDS, POLET OPS`.

A message starts at its identifier line (one of those `iata.READERS` has a reader for: MVT, MVA,
DIV, ASM, SSM) and its text runs to the next
identifier, envelope or boundary. Lines after a blank line are marked `trailing`: a reader may
take them as free text when they are not elements it knows.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from services.disruption.typeb import nearest_day_of_month

# Other Type B message identifiers a feed may carry: named when refused.
OTHER_IDENTIFIERS = frozenset({"LDM", "CPM", "UCM", "PSM", "PTM", "SLS", "PFS", "PNL", "ADL", "TPM", "FWB",
                               "FFM", "SAM", "SRM", "SCR", "SIR", "NOTAM", "METAR", "WXR", "AGM", "MAS", "BSM",
                               "BPM", "LPM", "TAF"})

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BOUNDARY = re.compile(r"[\x01\x03\x04]")  # SOH starts a message, ETX and EOT end one
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # within a line: STX, tabs and the like
_TYPE_X = re.compile(r"=(HEADER|PRIORITY|DESTINATION(?: TYPE B)?|ORIGIN|DBLSIG|MSGID|SMI|TEXT)\b", re.ASCII)
_RECEIVED = re.compile(r"(?:RCV|SND),(\d{4})/(\d{1,2})/(\d{1,2}) (\d{1,2}):(\d{2})", re.ASCII)
_ORIGIN = re.compile(r"\.[A-Z0-9]{7}(?: +(?P<stamp>\d{6}))?(?: |$)", re.ASCII)
_ACARS_DT = re.compile(r"DT [A-Z0-9]{3} [A-Z0-9]{3,4} (?P<stamp>\d{6})(?: |$)", re.ASCII)
# ARINC 620 downlink labels of the OOOI reports: QP out of the gate, QQ off, QR on, QS in at the gate.
OOOI_LABELS = {"QP": "OUT", "QQ": "OFF", "QR": "ON", "QS": "IN"}
_OOOI_TIME = re.compile(r"\b(?:OUT|OFF|ON|IN)(?: +|/)?\d{4}", re.ASCII)
_ACARS_LABEL = re.compile(r"[A-Z0-9]{2}|[A-Z][A-Z0-9]{2}", re.ASCII)  # QP, 5Z, A80
_FLIGHT_LIKE = re.compile(r"(?:[A-Z]{3}|[A-Z0-9]{2})\d{1,4}[A-Z]?/", re.ASCII)


@dataclass(frozen=True)
class Line:
    number: int  # in the sender's text, counting from 1
    text: str
    trailing: bool = False  # after a blank line: free text may follow the message proper


@dataclass(frozen=True)
class Telex:
    identifier: str
    first_line: int  # the message's first line in the text, heading included
    at: int  # the identifier's line
    body: list[Line]  # the lines after the identifier
    stamp: datetime | None = None  # when the network had it: Type X RCV, ACARS DT or the origin line
    stamp_day: int | None = None  # a day-of-month stamp (`ddhhmm`) still to be placed in a month
    stamp_time: tuple[int, int] | None = None

    @property
    def text(self) -> str:
        """The message as it would be sent bare: what its identity is computed from."""
        return "\n".join([self.identifier] + [line.text for line in self.body])


@dataclass(frozen=True)
class Unreadable:
    first_line: int
    line: int
    reason: str


@dataclass
class _Draft:
    first_line: int
    heading: list[Line] = field(default_factory=list)
    identifier: str | None = None
    at: int = 0
    body: list[Line] = field(default_factory=list)
    smi: tuple[int, str] | None = None
    received: datetime | None = None
    blank_seen: bool = False
    paragraph: int = 0  # where in the body the current paragraph began


def split(text: str, identifiers: tuple[str, ...]) -> list[Telex | Unreadable]:
    """Every message in the text, in order, or why a stretch of it is not one; `identifiers` are
    the messages there are readers for (`iata.READERS`), whose identifier lines start a message."""
    return _Splitter(identifiers).split(text)


class _Splitter:
    """Reads the text line by line: a message is drafted from its heading, identifier and body, and
    finished at the next boundary, envelope, identifier or the end."""

    def __init__(self, identifiers: tuple[str, ...]) -> None:
        self.identifiers = identifiers
        self.out: list[Telex | Unreadable] = []
        self.draft: _Draft | None = None
        self.envelope: dict[str, list[Line]] | None = None  # a Type X envelope being read
        self.envelope_key = ""

    def split(self, text: str) -> list[Telex | Unreadable]:
        for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
            pieces = _BOUNDARY.split(raw)
            for index, piece in enumerate(pieces):
                if index:  # SOH, ETX or EOT inside the line: a transport boundary
                    self.close()
                    self.envelope = None
                # A control character separates, never joins: B6<STX>1001 must not become B61001.
                line = " ".join(_CONTROL.sub(" ", piece).split()).upper()
                if line or index == len(pieces) - 1:
                    self.line(number, line)
        self.close()
        return self.out

    def close(self) -> None:
        if self.draft is not None:
            self.out.append(_finish(self.draft, self.identifiers))
        self.draft = None

    def line(self, number: int, line: str) -> None:
        if keyword := _TYPE_X.fullmatch(line):
            self.type_x(keyword[1], number)
        elif self.envelope is not None and self.envelope_key != "TEXT":
            if line:
                self.envelope[self.envelope_key].append(Line(number, line))
        elif not line or line == "NNNN" or line.startswith("ZCZC"):
            self.separator(line)
        elif line.startswith("-") and (len(line) == 1 or line[1] == " "):
            if text := line[1:].strip():  # ACARS text begins after a dash
                self.words(number, text)
        else:
            self.words(number, line)

    def words(self, number: int, line: str) -> None:
        """A line of text: an identifier line starts a message, anything else is text."""
        word, _, rest = line.partition(" ")
        if word == "COR" and rest.partition(" ")[0] in self.identifiers:
            # `COR MVT`: the correction marked on the identifier's own line; read, as a
            # correction before it is, as the newer word on the flight.
            word, _, rest = rest.partition(" ")
        if word in self.identifiers:
            self.identifier(word, number)
            if rest:  # `ASM LT`, `MVT COR`: the rest of the line is the message's first line
                self.text(rest.split(" ")[0], Line(number, rest))
        else:
            self.text(word, Line(number, line))

    def type_x(self, keyword: str, number: int) -> None:
        if self.envelope is None or (keyword in ("HEADER", "PRIORITY") and self.envelope_key == "TEXT"):
            self.close()
            self.envelope = {}
        self.envelope_key = keyword.split()[0]
        self.envelope.setdefault(self.envelope_key, [])
        if self.envelope_key != "TEXT":
            return
        draft = self.draft = _Draft(first_line=number + 1)
        for value in self.envelope.get("HEADER", []):
            if m := _RECEIVED.search(value.text):
                draft.received = _received(m)
        if smi := self.envelope.get("SMI"):
            draft.smi = (smi[0].number, smi[0].text.split(" ")[0])
            if draft.smi[1] in self.identifiers:
                # The envelope names the message: its text may or may not repeat the identifier.
                draft.identifier, draft.at = draft.smi[1], draft.smi[0]

    def separator(self, line: str) -> None:
        if self.draft is None:
            return
        if line and self.draft.identifier is not None:
            self.close()  # NNNN ends the message; ZCZC starts the next
        else:
            self.draft.blank_seen = True

    def identifier(self, word: str, number: int) -> None:
        draft = self.draft
        if draft is not None and draft.identifier is None and draft.blank_seen and not _heading_like(draft.heading):
            self.out.append(_without_identifier(draft, self.identifiers))  # text of its own before this message
            draft = self.draft = None
        if draft is not None and draft.smi and draft.identifier == draft.smi[1] and not draft.body:
            # The text repeats (or refines: MVA for MVT) the identifier its envelope gave.
            draft.identifier, draft.at = word, number
            return
        heading = self._next_heading()
        if self.draft is None:
            self.draft = _Draft(first_line=heading[0].number if heading else number,
                                heading=[Line(h.number, h.text) for h in heading])
        self.draft.identifier, self.draft.at, self.draft.blank_seen = word, number, False

    def _next_heading(self) -> list[Line]:
        """Before a new identifier: the message under way ends; the paragraph just before, if it
        looks like a heading, is the new message's heading, not the last one's text."""
        draft = self.draft
        heading: list[Line] = []
        if draft is not None and draft.identifier is not None:
            if draft.body and draft.body[-1].trailing:
                heading, draft.body = draft.body[draft.paragraph:], draft.body[:draft.paragraph]
            self.close()
        return heading

    def text(self, word: str, line: Line) -> None:
        draft = self.draft
        if word in OTHER_IDENTIFIERS and draft is not None and draft.identifier is not None and draft.blank_seen:
            self.close()  # a message of another kind follows: it is refused on its own
            draft = None
        if draft is None:
            draft = self.draft = _Draft(first_line=line.number)
        if draft.identifier is None:
            if draft.blank_seen and not _heading_like(draft.heading):
                # A stretch of text with no identifier, then more text: the first stretch stands alone.
                self.out.append(_without_identifier(draft, self.identifiers))
                draft = self.draft = _Draft(first_line=line.number)
            draft.heading.append(line)
            draft.blank_seen = False
            return
        if draft.blank_seen:
            draft.paragraph, draft.blank_seen = len(draft.body), False
        trailing = bool(draft.body) and (draft.body[-1].trailing or draft.paragraph == len(draft.body))
        draft.body.append(Line(line.number, line.text, trailing))


def _heading_like(lines: list[Line]) -> bool:
    """Only addresses, an origin line or ACARS header lines: a heading that a blank line may follow."""
    return all(re.fullmatch(r"Q[A-Z](?: [A-Z0-9]{7})+|\..*|[A-Z0-9]{2}|[A-Z][A-Z0-9]{2}|FI .*|DT .*|COR", line.text)
               for line in lines)


def _finish(draft: _Draft, identifiers: tuple[str, ...]) -> Telex | Unreadable:
    if draft.identifier is None:
        return _without_identifier(draft, identifiers)
    body = draft.body
    if body and body[0].text == "COR":
        body = body[1:]  # a correction is read as the newer word on the flight, which it is
    return Telex(draft.identifier, draft.first_line, draft.at, body, draft.received, *_stamp(draft.heading))


def _stamp(heading: list[Line]) -> tuple[int | None, tuple[int, int] | None]:
    """The first sending time the heading gives, the origin line's or the ACARS `DT` line's."""
    for line in heading:
        origin = _ORIGIN.match(line.text) or _ACARS_DT.match(line.text)
        if origin and origin["stamp"]:
            return int(origin["stamp"][:2]), (int(origin["stamp"][2:4]), int(origin["stamp"][4:6]))
    return None, None


def _acars_report(draft: _Draft) -> Telex | None:
    """An ACARS downlink with no message identifier that is an OOOI report: its label line, then
    its `FI`, `DT` and text lines, read as an `OOOI` message."""
    lines = draft.heading
    fi = next((i for i, line in enumerate(lines) if line.text.startswith("FI ")), None)
    if fi is None:
        return None
    label = next((i for i in range(fi - 1, -1, -1) if _ACARS_LABEL.fullmatch(lines[i].text)), None)
    if label is None:
        return None
    text = [line.text for line in lines[fi + 1:] if not line.text.startswith("DT ")]
    if lines[label].text not in OOOI_LABELS and not _OOOI_TIME.search(" ".join(text)):
        return None
    return Telex("OOOI", lines[0].number, lines[label].number, lines[label:], draft.received, *_stamp(lines))


def _without_identifier(draft: _Draft, identifiers: tuple[str, ...]) -> Telex | Unreadable:
    if report := _acars_report(draft):
        return report
    first = draft.heading[0].number if draft.heading else draft.first_line
    if draft.smi:
        return Unreadable(first, draft.smi[0], f"{draft.smi[1]} messages are not read: Rebound reads "
                                               f"{', '.join(identifiers)}")
    for line in draft.heading:
        if line.text.split(" ")[0] in OTHER_IDENTIFIERS:
            return Unreadable(first, line.number, f"{line.text.split(' ')[0]} messages are not read: "
                                                  f"Rebound reads {', '.join(identifiers)}")
    return Unreadable(first, first, f"no message identifier ({', '.join(identifiers)}) before the text")


def stamp_of(telex: Telex, near: date) -> datetime | None:
    """When the network had the message: a full time, or a `ddhhmm` placed in the month nearest `near`."""
    if telex.stamp is not None:
        return telex.stamp
    if telex.stamp_day is None or telex.stamp_time is None:
        return None
    hour, minute = telex.stamp_time
    if hour > 23 or minute > 59:
        return None
    try:
        day = nearest_day_of_month(telex.stamp_day, near)
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _received(m: re.Match[str]) -> datetime | None:
    try:
        return datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), tzinfo=UTC)
    except ValueError:
        return None


def looks_like_a_flight_line(text: str) -> bool:
    return bool(_FLIGHT_LIKE.match(text))
