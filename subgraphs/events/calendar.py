"""Events as iCalendar (RFC 5545) files, for calendar apps."""

from datetime import UTC, datetime

from icalendar import Calendar
from icalendar import Event as CalendarEvent

from subgraphs.events.models import EventRow


def icalendar(event: EventRow) -> str:
    calendar = Calendar()
    calendar.add("prodid", "-//Meetinity//Events//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    entry = CalendarEvent()
    entry.add("uid", f"{event.id}@meetinity")
    entry.add("dtstamp", datetime.now(UTC))
    entry.add("dtstart", event.starts_at)
    entry.add("dtend", event.ends_at)
    entry.add("summary", event.title)
    if event.description:
        entry.add("description", event.description)
    place = ", ".join(
        part for part in (event.venue_name, event.venue_address, event.city, event.country) if part
    )
    if place:
        entry.add("location", place)
    if event.online_url:
        entry.add("url", event.online_url)
    entry.add("status", "CANCELLED" if event.status == "cancelled" else "CONFIRMED")
    entry.add("sequence", int(event.updated_at.timestamp()))
    calendar.add_component(entry)
    return str(calendar.to_ical().decode())
