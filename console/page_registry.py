"""Every console page by URL name, with the class that builds one browser session of it."""
from __future__ import annotations

from console.app import PageFactory


def page_factories() -> dict[str, PageFactory]:
    """Name -> page class; the roles that may open each page are in `console.pages.PAGE_ROLES`."""
    from console.views.canned_page import CannedRepliesPage
    from console.views.page import InboxPage, MarketingPage
    from console.dashboard.page import DashboardPage

    return {
        "inbox": InboxPage,
        "marketing": MarketingPage,
        "dashboard": DashboardPage,
        "canned": CannedRepliesPage,
    }
