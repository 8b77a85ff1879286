"""Real senders' traffic, as others wrote it down, read into flight events.

Sources (each case names its own):
- [imsg] Evgeny Bogodukhov's IATA message parser (2014), its example messages: Polet Airlines'
  (YQ, ICAO POT) MVT traffic, with signatures, COR and a SITA Type X envelope.
- [typebtomail] the TypeBToMail README (2017): a SITA Type X `.RCV` file carrying an MVT.
- [skyreader] the SkyReader project's test fixtures: ACARS downlinks converted to Type B (`A81`,
  `FI`, `DT`, `-`) carrying Qantas MVA, MVT and DIV messages with ICAO designators.
- [airframes] airframesio/acars-decoder-typescript pull request 406, "Label 81 — MVA": Jetstar's
  aircraft-initiated movement message.
- [nuitparser] Royal Air Maroc's telex parser (com.ram.nuitparser), SSMParserTest: an SSM RPL.
- [aidx-cwl] the IATA_AIDX_FlightLegRS fixtures of a Cardiff airport client (RUK9431, FR8045,
  TOM7623): ICAO and IATA airline designators, OperationTime qualifiers OFB/TKO/TDN/ONB with
  TimeType SCT/EST/ACT.
- [aidx-ariva] the ARIVA AODB's AIDX 22.1 inbound tests: `OperationalStatus` DX for a
  cancellation; DOCTYPE, entity expansion and external DTDs refused.
- [mvt-go] a Go MVT reader's examples (SD200 at CDG: PDM, AD with EA, FLD, NI with SI, DL with
  two codes and DLA with empty fields).
- [astra] deyoz/astra, a departure control system: the SSIM chapter 5 grammar of its libtypeb
  (locallibs/libtypeb/src/TlgStrings.cc) and the SSMs its libssim writes (`CNL XASM`, `00XXX00`).
- [AHM 780], [AHM 781], [SSIM 5] the standards' layouts, as summarised by Avinor's Airport Data
  Dictionary (xwiki.avinor.no, "DIV Diversion Message": element 4.2 is the airport of originally
  intended landing, 5.2/5.3 the estimated touchdown at and the airport of diversion): messages
  built here to those layouts, not copied.
"""

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.disruption import aidx, iata
from shared.events import (
    FlightArrived,
    FlightCancelled,
    FlightDelayed,
    FlightDeparted,
    FlightDiverted,
    FlightRetimed,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def read(text: str, received: str):
    parsed = iata.parse_text(text, at(received))
    errors = [p.error for p in parsed if p.error]
    assert errors == [], errors
    return [e for p in parsed for e in p.events]


def summary(event) -> tuple:
    f = event.flight
    return (event.type, f.carrier, f.number, f.departure_date.isoformat(), f.origin, f.destination)


# --- [imsg] Polet Airlines ----------------------------------------------------------------------

def test_imsg_arrival():
    (e,) = read("MVT\nYQ752/05.VQBGC.DME\nAA0404/0411\n", "2014-02-05T05:00")
    assert isinstance(e, FlightArrived)
    assert summary(e) == ("flight.arrived", "YQ", "752", "2014-02-05", None, "DME")
    assert (e.actual_arrival, e.on_block_at) == (at("2014-02-05T04:04"), at("2014-02-05T04:11"))


def test_imsg_icao_airline_with_signature_and_trailing_free_text():
    text = "BRGDS,\nPOLET OPS\nMVT\nPOT4632/02.RA82077.EBB\nAA2047/2057\n\nALL TIME UTC\n\nBRGDS,\nPOLET OPS\n"
    (e,) = read(text, "2014-02-02T21:00")
    # POT was Polet's ICAO designator while YQ was its IATA one (until November 2014).
    assert summary(e) == ("flight.arrived", "YQ", "4632", "2014-02-02", None, "EBB")
    assert e.actual_arrival == at("2014-02-02T20:47")


def test_imsg_correction_with_supplementary_text_on_several_lines():
    text = ("BRGDS,\nPOLET OPS\nCOR\nMVT\nYQ777/02.VQBGC.DME\nAD1404/1421 EA1525 VOZ\nDL15/0004\nPX26\n"
            "SI TEST1 TEST11\nTEST2\nTEST3\n")
    (e,) = read(text, "2014-02-02T14:30")
    assert isinstance(e, FlightDeparted)
    assert summary(e) == ("flight.departed", "YQ", "777", "2014-02-02", "DME", None)
    assert (e.actual_departure, e.airborne_at, e.estimated_arrival) == (
        at("2014-02-02T14:04"), at("2014-02-02T14:21"), at("2014-02-02T15:25"))
    assert [(c.code, c.minutes) for c in e.delay_codes] == [("15", 4)]


def test_imsg_departure_with_passengers():
    (e,) = read("\nMVT\nYQ765/09.VQBGC.DME\nAD0908/0915 EA1025 EGO\nPX30\n", "2014-02-09T09:30")
    assert summary(e) == ("flight.departed", "YQ", "765", "2014-02-09", "DME", None)
    assert e.estimated_arrival == at("2014-02-09T10:25")


def test_imsg_type_x_envelope_with_the_identifier_only_as_smi():
    text = ("=HEADER\nRCV,2014/02/19 06:03\n=PRIORITY\nQN\n=DESTINATION TYPE B\nSTX,ULYFWXH\nSTX,LEDFF7X\n"
            "STX,VOZPLXH\n=ORIGIN\nQXTGWXS\n=DBLSIG\nXS\n=MSGID\n190603\n=SMI\nMVT\n=TEXT\n"
            "YQ703/19.VPBPR.LED\nAA0548/0552\n\nsupplementary sender/recipients information\n"
            "from /c=ww/a=sitamail/o=typeb/s=ledff7x\n")
    (parsed,) = iata.parse_text(text, at("2014-02-19T07:00"))
    assert parsed.error is None and parsed.kind == "MVT"
    (e,) = parsed.events
    assert summary(e) == ("flight.arrived", "YQ", "703", "2014-02-19", None, "LED")
    assert e.occurred_at == at("2014-02-19T06:03")  # the envelope's receipt time


# --- [typebtomail] -------------------------------------------------------------------------------

def test_typebtomail_type_x_file_with_blank_lines_around_the_text():
    text = ("=HEADER\r\nRCV,2017/07/21 11:40\r\n=PRIORITY\r\nQK\r\n=DESTINATION TYPE B\r\nSTX,TSTXXXX\r\n"
            "STX,TSTYYXX\r\nSTX,TSTZZXX\r\n=ORIGIN\r\nTSTXXSS\r\n=DBLSIG\r\nXX\r\n=MSGID\r\n123456\r\n=SMI\r\n"
            "MVT\r\n=TEXT\r\n\r\n\r\n\r\n\r\nXX006/12.SXTST.ATH\r\nED211140\r\nDL00\r\n\r\n\r\n\r\n\r\n")
    (e,) = read(text, "2017-07-21T11:41")
    assert isinstance(e, FlightDelayed)
    assert summary(e) == ("flight.delayed", "XX", "6", "2017-07-12", "ATH", None)
    assert e.estimated_departure == at("2017-07-21T11:40") and e.delay_codes[0].code == "00"


# --- [skyreader] and [airframes]: ACARS downlinks --------------------------------------------------

def test_skyreader_acars_mva_with_icao_airline_and_airport():
    text = ("QU HDQWWQF\n.TDY9999 060154\nA81\nFI QFA8666/AN VH-ZNM\nDT TDY TDY 060154 M43A\n-\nMVA\n"
            "QFA8666/09.VHZNM.YPGV\nAA0745/0753")
    (parsed,) = iata.parse_text(text, at("2024-03-09T08:00"))
    assert parsed.kind == "MVA" and parsed.line == 1
    (e,) = parsed.events
    # QFA is Qantas (QF); YPGV is Gove (GOV).
    assert summary(e) == ("flight.arrived", "QF", "8666", "2024-03-09", None, "GOV")
    assert e.actual_arrival == at("2024-03-09T07:45")


@pytest.mark.parametrize("kind, elements", [("MVT", "AD0820/0835"), ("DIV", "EA2135 LHR\nDR71\nPX112")])
def test_skyreader_flight_line_without_a_day_is_refused_not_guessed(kind, elements):
    text = ("QU HDQWWQF\n.TDY9999 090154\nA81\nFI QFA4994/AN VH-XVN\nDT TDY TDY 060154 M43A\n-\n"
            f"{kind}\nQFA4994/.VHXVN.NZDN\n{elements}")
    (parsed,) = iata.parse_text(text, at("2024-03-09T09:00"))
    assert parsed.events == [] and parsed.error.line == 8 and "flight line" in parsed.error.reason


def test_airframes_label_81_mva():
    (e,) = read("MVA\nJST0122/20.VHOYR.MEL\nAA0945/0950\nSI FB 37", "2025-06-20T10:00")
    assert summary(e) == ("flight.arrived", "JQ", "122", "2025-06-20", None, "MEL")


# --- [nuitparser] Royal Air Maroc: SSM RPL -------------------------------------------------------

def test_nuitparser_ssm_replace_becomes_a_retime_per_leg_and_day_of_operation():
    text = ("SSM\nUTC\n04AUG35543E001/P37705/06784/MCHAMI\nRPL\nAT248\n04SEP25 11SEP25 1234\n"
            "J 332 J24Y275 3/HFM 4/HFM 5/AT\nCMN0140 MED0740\nMED0910 JED1010")
    events = read(text, "2025-09-01T12:00")
    # 4 September 2025 is a Thursday; days 1234 are Monday to Thursday: the 4th, 8th, 9th, 10th, 11th.
    assert sorted({e.flight.departure_date for e in events}) == [
        date(2025, 9, 4), date(2025, 9, 8), date(2025, 9, 9), date(2025, 9, 10), date(2025, 9, 11)]
    assert len(events) == 10 and all(isinstance(e, FlightRetimed) for e in events)
    first, second = events[:2]
    assert summary(first) == ("flight.retimed", "AT", "248", "2025-09-04", "CMN", None)
    assert (first.scheduled_departure, first.scheduled_arrival) == (at("2025-09-04T01:40"), at("2025-09-04T07:40"))
    assert (second.flight.origin, second.scheduled_departure) == ("MED", at("2025-09-04T09:10"))
    assert {e.sequence for e in events} == {35543001}


def test_ssm_beyond_the_horizon_is_noted_not_read():
    text = "SSM\nUTC\nCNL\nAT248\n01JAN26 30JUN26 1234567"
    (parsed,) = iata.parse_text(text, at("2025-12-31T12:00"))
    assert parsed.error is None and len(parsed.events) == 31  # 1 to 31 January, the horizon's days
    assert "after 2026-01-31" in parsed.notes[0]


# --- [mvt-go] ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected, check", [
    ("PDM\nMVT\nSD200/21.PMDFG.CDG\nAD1100/1115 EA1500 FRA\nDL72/0015\nPX112\nSI DEICING\n",
     ("flight.departed", "SD", "200", "2024-05-21", "CDG", None), lambda e: e.estimated_arrival.hour == 15),
    ("MVT\nSD200/21.PMDFG.CDG\nAA1515/1520\nFLD22\n",
     ("flight.arrived", "SD", "200", "2024-05-21", None, "CDG"), lambda e: e.on_block_at.minute == 20),
    ("MVT\nSD200/22.PMDFG.CDG\nED221125\nDL72/0025\n",
     ("flight.delayed", "SD", "200", "2024-05-22", "CDG", None), lambda e: e.reason == "weather"),
    ("MVT\nSD200/22.PMDFG.CDG\nNI221150\nSI ENGINE TROUBLE\n",
     ("flight.delayed", "SD", "200", "2024-05-22", "CDG", None), lambda e: e.reason == "technical"),
    ("MVT\nAA1203/07.LNREG.BGO\nAD1402/1413 EA1524 SVG\nPX123\nSI MAP1405\n",
     ("flight.departed", "AA", "1203", "2024-05-07", "BGO", None), lambda e: e.estimated_arrival.hour == 15),
    ("MVT\nAZ1074/08.HBXXX.ZRH\nAD1454/1458 EA1555 FRA\nDL46/02/0005/0004\nPX023\nDLA/02B//\n",
     ("flight.departed", "AZ", "1074", "2024-05-08", "ZRH", None),
     lambda e: [(c.code, c.minutes) for c in e.delay_codes] == [("46", 5), ("02", 4), ("02B", None)]),
])
def test_mvt_go_examples(text, expected, check):
    (e,) = read(text, "2024-05-21T12:00")
    assert summary(e) == expected and check(e)


# --- [AHM 780] movement elements where real senders put them -------------------------------------

@pytest.mark.parametrize("text, received, expected, check", [
    # a full date on the flight line, a delay estimate with its code
    ("MVT\nAF1234/12DEC24.FGKXA.CDG\nED121530\nDL93/0045", "2024-12-12T14:00",
     ("flight.delayed", "AF", "1234", "2024-12-12", "CDG", None), lambda e: e.estimated_departure.hour == 15),
    # ICAO airline and airports; EO on the AD line
    ("MVT\nDLH400/15.DAIMA.EDDF\nAD1203/1215 EO1214 EA2010 KJFK", "2025-01-15T12:30",
     ("flight.departed", "LH", "400", "2025-01-15", "FRA", None), lambda e: e.estimated_arrival.hour == 20),
    # a registration with its hyphen, padded with spaces
    ("MVT\nBA0123/12.G-EUUA  .LHR\nAD0923/0931 EA1215 JFK", "2024-12-12T09:40",
     ("flight.departed", "BA", "123", "2024-12-12", "LHR", None), lambda e: e.airborne_at.minute == 31),
    # EB on an EA line
    ("MVT\nBA0123/12.GEUUA.JFK\nEA1215 JFK EB1224", "2024-12-12T09:40",
     ("flight.delayed", "BA", "123", "2024-12-12", None, "JFK"), lambda e: e.estimated_arrival.minute == 15),
    # EB on an AA line
    ("MVT\nBA0123/12.GEUUA.JFK\nAA1213/1222 EB1222", "2024-12-12T12:30",
     ("flight.arrived", "BA", "123", "2024-12-12", None, "JFK"), lambda e: e.on_block_at.minute == 22),
    # a bare SI, then free text: FR 50500 is fuel remaining, not a forced return
    ("MVT\nUA0485/08.N37253.EWR\nED081900\nSI\nFR 50500 KGS\nCREW CHANGE", "2013-02-08T17:00",
     ("flight.delayed", "UA", "485", "2013-02-08", "EWR", None), lambda e: e.returned is None and e.reason == "crew"),
    # EDL, the estimated delay
    ("MVT\nKL1001/12.PHBXA.AMS\nED121015\nEDL81/0025", "2024-12-12T09:00",
     ("flight.delayed", "KL", "1001", "2024-12-12", "AMS", None),
     lambda e: e.reason == "air_traffic_control" and e.delay_codes[0].minutes == 25),
    # DLA with sub-codes and empty fields
    ("MVT\nKL1001/12.PHBXA.AMS\nED121015\nDLA85A///", "2024-12-12T09:00",
     ("flight.delayed", "KL", "1001", "2024-12-12", "AMS", None), lambda e: e.reason == "security"),
    # RC, reclearance in flight to another destination
    ("MVT\nYQ777/02.VQBGC.DME\nRC1450 LED", "2014-02-02T14:55",
     ("flight.diverted", "YQ", "777", "2014-02-02", "DME", None), lambda e: e.new_destination == "LED"),
    # a one-digit day, a space after the airline designator (nuitparser's MVT and ASM patterns allow both)
    ("MVT\nAT 208/5.CNRGB.CMN\nED051030", "2024-12-05T09:00",
     ("flight.delayed", "AT", "208", "2024-12-05", "CMN", None), lambda e: e.estimated_departure.hour == 10),
    # an ED with a separate EA line: the arrival estimate too
    ("MVT\nB61001/08.N623JB.JFK\nED081145\nEA081310 BOS", "2013-02-08T07:00",
     ("flight.delayed", "B6", "1001", "2013-02-08", "JFK", None), lambda e: e.estimated_arrival.hour == 13),
])
def test_ahm_780_elements_as_real_senders_place_them(text, received, expected, check):
    (e,) = read(text, received)
    assert summary(e) == expected
    assert check(e)


def test_ahm_781_diversion():
    (e,) = read("DIV\nBA0123/12.GEUUA.LHR\nEA1430 MAN\nDR71\nPX112", "2024-12-12T13:00")
    assert isinstance(e, FlightDiverted)
    assert summary(e) == ("flight.diverted", "BA", "123", "2024-12-12", None, "LHR")
    assert (e.new_destination, e.estimated_arrival, e.reason) == ("MAN", at("2024-12-12T14:30"), "weather")


# --- [SSIM 5] ASM as real senders write it -------------------------------------------------------

def test_asm_cancellation_with_reason_suffix_and_leg_identifier():
    (e,) = read("ASM\nUTC\nCNL WEAT\nLX544A/12MAY03 ORD/LAS", "2003-05-11T12:00")
    assert isinstance(e, FlightCancelled)
    assert summary(e) == ("flight.cancelled", "LX", "544A", "2003-05-12", "ORD", None) and e.reason == "weather"


def test_asm_flight_line_with_spaces_around_the_slash_and_a_one_digit_day():
    (e,) = read("ASM\nUTC\nCNL\nAT208 / 5DEC24", "2024-12-01T12:00")
    assert summary(e) == ("flight.cancelled", "AT", "208", "2024-12-05", None, None)


def test_asm_replace_in_local_time():
    (e,) = read("ASM\nLT\nRPL\nAT208/12DEC24\nJ 788 C18Y256\nCMN1000 JFK1320", "2024-12-01T12:00")
    assert summary(e) == ("flight.retimed", "AT", "208", "2024-12-12", "CMN", None)
    # Casablanca is UTC+1 in December 2024; New York UTC-5.
    assert (e.scheduled_departure, e.scheduled_arrival) == (at("2024-12-12T09:00"), at("2024-12-12T18:20"))


def test_asm_day_only_date_and_ddhhmm_leg_times():
    (e,) = read("ASM\nUTC\nTIM\nB61001/08\nJFK081835 BOS081950", "2013-02-07T12:00")
    assert summary(e) == ("flight.retimed", "B6", "1001", "2013-02-08", "JFK", None)
    assert (e.scheduled_departure, e.scheduled_arrival) == (at("2013-02-08T18:35"), at("2013-02-08T19:50"))


def test_asm_icao_designators_and_an_equipment_change_that_tells_nobody():
    (e,) = read("ASM\nUTC\nCNL TECH\nDLH400/15JAN25\nEDDF KJFK", "2025-01-14T12:00")
    assert summary(e) == ("flight.cancelled", "LH", "400", "2025-01-15", "FRA", None) and e.reason == "technical"
    (parsed,) = iata.parse_text("ASM\nUTC\nEQT\nLH400/15JAN25\nJ 388 F8C78Y420\nFRA1030 JFK1300",
                                at("2025-01-14T12:00"))
    assert parsed.error is None and parsed.events == [] and "equipment change" in parsed.notes[0]


# --- raw SITA transport --------------------------------------------------------------------------

def test_soh_stx_etx_around_messages_with_no_blank_line_between():
    text = ("\x01QU NYCOOB6\r\n.JFKOOB6 080640\r\n\x02MVT\r\nB61001/08.N623JB.JFK\r\nED081145\r\nDL72/0430\r\n\x03"
            "\x01QU NYCOOB6\r\n.BOSOOB6 081339\r\n\x02MVT\r\nB61003/08.N659JB.BOS\r\nAA1331/1339\r\n\x03")
    first, second = iata.parse_text(text, at("2013-02-08T14:00"))
    assert (first.line, second.line) == (1, 7)
    assert first.events[0].occurred_at == at("2013-02-08T06:40")
    assert summary(second.events[0]) == ("flight.arrived", "B6", "1003", "2013-02-08", None, "BOS")


def test_an_unreadable_telex_does_not_take_its_neighbours_down():
    text = "MVT\nB61001/08.N623JB.JFK\nED081145\n\nLDM\nB61001/08.N623JB.JFK\n\nMVT\nB61003/08.N659JB.BOS\nAA1331"
    parsed = iata.parse_text(text, at("2013-02-08T14:00"))
    assert [bool(p.events) for p in parsed] == [True, False, True]
    assert "LDM messages are not read" in parsed[1].error.reason and parsed[1].error.line == 5


# --- [aidx-cwl] and [aidx-ariva]: AIDX XML -------------------------------------------------------

AIDX = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<IATA_AIDX_FlightLegNotifRQ xmlns="http://www.iata.org/IATA/2007/00" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    TimeStamp="2023-07-02T13:10:00Z" Version="16.1" SequenceNmbr="7">
  <Originator CompanyShortName="CWL"/>
  <FlightLeg>
    <LegIdentifier><Airline CodeContext="3">TOM</Airline><FlightNumber>7623</FlightNumber>
      <DepartureAirport CodeContext="3">PFO</DepartureAirport><ArrivalAirport CodeContext="3">CWL</ArrivalAirport>
      <OriginDate>2018-09-01</OriginDate></LegIdentifier>
    <LegData InternationalStatus="International"><PublicStatus xsi:nil="true"/>
      <OperationTime OperationQualifier="ONB" CodeContext="2005" TimeType="SCT">2018-09-01T23:00:00.000Z</OperationTime>
      <OperationTime OperationQualifier="TDN" CodeContext="2005" TimeType="ACT">2018-09-01T23:00:00.000Z</OperationTime>
      <OperationTime OperationQualifier="ONB" CodeContext="2005" TimeType="ACT">2018-09-01T23:05:00.000Z</OperationTime>
    </LegData>
  </FlightLeg>
  <FlightLeg>
    <LegIdentifier><Airline CodeContext="3">FR</Airline><FlightNumber>8045</FlightNumber>
      <DepartureAirport CodeContext="3">CWL</DepartureAirport><ArrivalAirport CodeContext="3">CHQ</ArrivalAirport>
      <OriginDate>2018-09-18</OriginDate></LegIdentifier>
    <LegData>
      <OperationTime OperationQualifier="OFB" CodeContext="2005" TimeType="SCT">2018-09-18T13:02:00.000Z</OperationTime>
      <OperationTime OperationQualifier="OFB" CodeContext="2005" TimeType="EST">2018-09-18T14:10:00.000Z</OperationTime>
      <OperationTime OperationQualifier="ONB" CodeContext="2005" TimeType="EST">2018-09-18T18:05:00.000Z</OperationTime>
    </LegData>
  </FlightLeg>
  <FlightLeg>
    <LegIdentifier><Airline CodeContext="3">RJ</Airline><FlightNumber>1234</FlightNumber>
      <DepartureAirport CodeContext="3">DMO</DepartureAirport><ArrivalAirport CodeContext="3">CAI</ArrivalAirport>
      <OriginDate>2018-09-18</OriginDate></LegIdentifier>
    <LegData><OperationalStatus CodeContext="2005">DX</OperationalStatus></LegData>
  </FlightLeg>
  <FlightLeg>
    <LegIdentifier><Airline>RUK</Airline><FlightNumber>9431</FlightNumber>
      <DepartureAirport>CWL</DepartureAirport><ArrivalAirport>BFS</ArrivalAirport><OriginDate>2023-07-02</OriginDate>
    </LegIdentifier>
    <LegData><OperationTime OperationQualifier="OFB" TimeType="ACT">2023-07-02T12:57:00.000Z</OperationTime></LegData>
  </FlightLeg>
</IATA_AIDX_FlightLegNotifRQ></s:Body></s:Envelope>"""


def test_aidx_legs_read_one_by_one():
    arrived, delayed, cancelled, unknown = aidx.parse_xml(AIDX.encode(), at("2023-07-02T13:11"))
    (e,) = arrived.events
    # TOM is TUI Airways' (once Thomson's) ICAO designator: BY.
    assert summary(e) == ("flight.arrived", "BY", "7623", "2018-09-01", "PFO", None)
    assert (e.actual_arrival, e.on_block_at, e.sequence) == (at("2018-09-01T23:00"), at("2018-09-01T23:05"), 7)
    (e,) = delayed.events
    assert isinstance(e, FlightDelayed) and e.flight.date_basis == "utc"
    assert (e.estimated_departure, e.estimated_arrival) == (at("2018-09-18T14:10"), at("2018-09-18T18:05"))
    (e,) = cancelled.events
    assert summary(e) == ("flight.cancelled", "RJ", "1234", "2018-09-18", "DMO", None)
    # RUK (Ryanair UK) has no IATA pairing in the airline list: refused, by position, not guessed.
    assert unknown.events == [] and unknown.error.line == 4 and "RUK" in unknown.error.reason


def test_aidx_a_later_leg_is_dated_by_its_own_scheduled_off_block():
    """OriginDate is the flight's first departure (UTC); a second leg after midnight is the next day's."""
    xml = AIDX.replace("<OriginDate>2018-09-18</OriginDate>", "<OriginDate>2018-09-17</OriginDate>", 1)
    (_, delayed, *_) = aidx.parse_xml(xml.encode(), at("2023-07-02T13:11"))
    assert delayed.events[0].flight.departure_date == date(2018, 9, 18)


@pytest.mark.parametrize("prolog", [
    '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    '<!DOCTYPE r SYSTEM "http://169.254.169.254/latest/meta-data/">',
])
def test_aidx_refuses_any_dtd(prolog):
    xml = AIDX.replace('<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?>' + prolog)
    (parsed,) = aidx.parse_xml(xml.encode(), at("2023-07-02T13:11"))
    assert parsed.events == [] and "DTD" in parsed.error.reason and "passwd" not in parsed.error.reason


def test_aidx_refuses_times_without_a_zone_and_oversized_documents():
    (arrived, *_) = aidx.parse_xml(AIDX.replace("23:00:00.000Z", "23:00:00").encode(), at("2023-07-02T13:11"))
    assert "no zone" in arrived.error.reason
    (parsed,) = aidx.parse_xml(b"<x>" + b" " * aidx.MAX_BYTES + b"</x>", at("2023-07-02T13:11"))
    assert "over" in parsed.error.reason


@pytest.mark.parametrize(("edit", "reason"), [
    # SequenceNmbr is an xs:nonNegativeInteger (IATA AIDX 16.1 schema, after OTA's message header):
    # its digits are XML Schema's 0-9, where Python's str.isdigit() also takes "²", and int() fails.
    (('SequenceNmbr="7"', 'SequenceNmbr="²"'), "SequenceNmbr '²' is not a whole number"),
    (('SequenceNmbr="7"', 'SequenceNmbr="٧"'), "SequenceNmbr '٧' is not a whole number"),
    # Arabic-Indic digits are decimal digits to a regular expression's \\d, not to a flight number.
    (("<FlightNumber>7623", "<FlightNumber>٧٦٢٣"), "FlightNumber '٧٦٢٣' is not 1 to 4 digits"),
])
def test_aidx_digits_are_ascii_digits_and_others_get_a_clear_error(edit, reason):
    assert edit[0] in AIDX
    parsed = aidx.parse_xml(AIDX.replace(*edit).encode(), at("2023-07-02T13:11"))
    assert reason in parsed[0].error.reason


def test_aidx_nested_past_any_real_document_is_refused_not_a_crash():
    """Ten thousand nested elements in a leg exhausted Python's stack when the leg was hashed: a
    500 for a partner's malformed document. Refused by depth, before anything walks the tree."""
    deep = "<x>" * 10_000 + "</x>" * 10_000
    xml = AIDX.replace("<PublicStatus xsi:nil=\"true\"/>", deep)
    (parsed,) = aidx.parse_xml(xml.encode(), at("2023-07-02T13:11"))
    assert "nested more than 32 deep" in parsed.error.reason


def test_asm_cancellation_of_several_flights_and_an_ssm_period_without_years():
    a, b = read("ASM\nUTC\nCNL CREW\nB61001/08FEB13\nB61003/08FEB13", "2013-02-07T12:00")
    assert [summary(e)[:4] for e in (a, b)] == [("flight.cancelled", "B6", "1001", "2013-02-08"),
                                                 ("flight.cancelled", "B6", "1003", "2013-02-08")]
    assert a.reason == b.reason == "crew"
    events = read("SSM\nUTC\nCNL\nB61001\n08FEB 10FEB 1234567", "2013-02-07T12:00")
    assert [e.flight.departure_date.day for e in events] == [8, 9, 10]


# --- [astra] the SSIM grammar of deyoz/astra's libtypeb (TlgStrings.cc) -----------------------------

def test_astra_grammar_asm_leg_change_passenger_times_and_deis():
    """A leg change identifier over two legs, DEIs on the flight and leg lines, ddhhmm aircraft times
    and the passengers' own times after a slash (they are what passengers are told)."""
    a, b = read("ASM\nUTC\n12FEB00001C002/REF\nCNL\nSU1234/12FEB ORD/LAS/SFO 7/D", "2025-02-11T12:00")
    assert [e.flight.origin for e in (a, b)] == ["ORD", "LAS"] and a.sequence == 1002
    (e,) = read("ASM\nUTC\nTIM\nSU1234/12FEB\nSVO121200/1210 LED121330/1325 9/SU", "2025-02-11T12:00")
    assert (e.scheduled_departure, e.scheduled_arrival) == (at("2025-02-12T12:10"), at("2025-02-12T13:25"))


def test_astra_grammar_ssm_until_further_notice_frequency_rate_and_segment_lines():
    text = ("SSM\nUTC\nNEW XASM\nSU1234\n03MAR25 00XXX00 1 /W2\nJ 320 C20Y138\nSVO1200 LED1330\n"
            "SVOLED 10/SU 5678")
    events = read(text, "2025-03-02T12:00")
    # Mondays, every second week, within the horizon: 3 and 17 March and 31 March.
    assert [e.flight.departure_date.day for e in events] == [3, 17, 31]


@given(st.lists(st.tuples(st.integers(0, len(AIDX)), st.integers(0, 12),
                          st.text(alphabet=st.sampled_from('<>/="&;!-?[] DXOFBTKNACSET0123456789:.Z²٣'), max_size=10)),
                max_size=5))
def test_aidx_spoiled_anywhere_gives_events_or_clear_errors(edits):
    """The AIDX fixture cut and patched anywhere: each leg reads or is refused with a reason, and no
    event names a flight number the document does not carry."""
    xml = AIDX
    for at_, cut, put in edits:
        xml = xml[:at_] + put + xml[at_ + cut:]
    for parsed in aidx.parse_xml(xml.encode(), at("2023-07-02T13:11")):
        assert parsed.events or parsed.notes or (parsed.error and parsed.error.reason)
        for e in parsed.events:
            assert f"<FlightNumber>{e.flight.number.lstrip('0')}" in xml.replace("<FlightNumber>0", "<FlightNumber>")


def test_the_time_mode_on_the_identifier_line_is_not_lost():
    """`ASM LT` on one line: read as UTC, the new times would be hours off."""
    (e,) = read("ASM LT\nTIM\nB6123/09FEB13\nJFK0845 BOS1005", "2013-02-08T12:00")
    assert e.scheduled_departure == at("2013-02-09T13:45")  # 08:45 in New York


def test_a_sending_time_after_the_receipt_is_not_taken():
    """An origin line or an AIDX TimeStamp later than the message's arrival would make every later
    event about the flight look stale: the acceptance time stands in."""
    (e,) = read("QU NYCOOB6\n.JFKOOB6 081830\nMVT\nB61001/08.N623JB.JFK\nED081945", "2013-02-08T12:00")
    assert e.occurred_at is None
    (arrived, *_) = aidx.parse_xml(AIDX.replace("2023-07-02T13:10:00Z", "2099-01-01T00:00:00Z").encode(),
                                   at("2023-07-02T13:11"))
    assert arrived.events[0].occurred_at is None
