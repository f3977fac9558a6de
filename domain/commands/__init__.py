"""Commands: one handler per verb of the scenario format, plus the timers."""

from domain.commands.args import SPECS, parse_args
from domain.commands.bans_disputes import BanDisputeHandlers
from domain.commands.privacy import PrivacyHandlers
from domain.commands.tickets import TicketHandlers
from domain.commands.timers import TIMER_KINDS, TimerHandlers

COMMANDS = tuple(SPECS)


class AllHandlers(TicketHandlers, BanDisputeHandlers, PrivacyHandlers, TimerHandlers):
    """Every handler of the desk."""


__all__ = ["COMMANDS", "TIMER_KINDS", "AllHandlers", "parse_args"]
