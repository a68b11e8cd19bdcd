"""The service catalog: categories, items, search by pinyin initials, and each item's guide."""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from cloud_bridge.contract.catalog import ServiceItem
from terminal.flows.session import FlowError
from terminal.flows.submission import Step
from terminal.ui.screens.base import KioskScreen
from terminal.ui.search import FREQUENT, search
from terminal.ui.widgets import KButton, Keypad


class CatalogScreen(KioskScreen):
    """Categories on the left, matching items on the right, a letter keypad to search.

    It opens on the frequent items (a short list to read), with every class and "all" a tap
    away; a search looks through every item whatever is chosen."""

    title_key = "catalog.title"

    def build(self) -> None:
        self.body.add_widget(self.label("catalog.hint", "hint", tone="muted"))
        row = BoxLayout(spacing=16)
        # Fifteen classes and more: a scrolling column of full-size buttons.
        self.categories = GridLayout(cols=1, spacing=12, size_hint_y=None)
        self.categories.bind(minimum_height=self.categories.setter("height"))
        self.class_scroll = ScrollView(do_scroll_x=False, size_hint_x=0.3)
        self.class_scroll.add_widget(self.categories)
        row.add_widget(self.class_scroll)
        self.items = GridLayout(cols=1, spacing=12, size_hint_y=None)
        self.items.bind(minimum_height=self.items.setter("height"))
        self.item_scroll = ScrollView(do_scroll_x=False)
        self.item_scroll.add_widget(self.items)
        row.add_widget(self.item_scroll)
        self.keypad = Keypad(max_len=8, letters=True, digits=False, labels=self.t, size_hint_x=0.7)
        self.keypad.bind(value=lambda *_: self.refresh())
        self.body.add_widget(row)
        self.search_row = row
        self.search_open = False
        self.category: str | None = self.first_category
        self.item_buttons: dict[str, KButton] = {}
        self.nav_buttons(
            self.button("nav.back", self.back, "secondary"),
            self.button("catalog.search", self.toggle_search, "secondary"),
        )
        self.refresh()

    @property
    def first_category(self) -> str | None:
        """The frequent items if the catalog marks any, else all of them."""
        return FREQUENT if any(i.frequent for i in self.k.node.parts.catalog) else None

    @property
    def applying(self) -> bool:
        flow = self.k.submission
        return flow is not None and flow.step == Step.ITEM

    def enter(self, **kw: object) -> None:
        self.refresh()

    def back(self) -> None:
        self.k.end_session("cancel")

    def toggle_search(self) -> None:
        """The letter keypad takes the categories' place while searching."""
        self.search_open = not self.search_open
        if self.search_open:
            self.search_row.remove_widget(self.class_scroll)
            self.search_row.add_widget(self.keypad)
            self.k.style(self.keypad)
        else:
            self.search_row.remove_widget(self.keypad)
            self.search_row.add_widget(self.class_scroll, index=len(self.search_row.children))
            self.keypad.clear()

    def choose_category(self, cat: str | None) -> None:
        self.category = cat
        self.refresh()

    def refresh(self) -> None:
        catalog = self.k.node.parts.catalog
        self.categories.clear_widgets()
        classes = {i.service_class.code: i.service_class for i in catalog}
        height = max(96, self.k.theme.touch_px(self.k.dpi))
        shortcuts: list[str | None] = [FREQUENT] if self.first_category == FREQUENT else []
        for cat in [*shortcuts, None, *classes]:
            if cat is None:
                text: object = "catalog.all"
            elif cat == FREQUENT:
                text = "catalog.frequent"
            else:
                cls = classes[cat]
                text = lambda c=cls: self.k.t.pick(c.name_zh, c.name_en)  # noqa: E731
            b = self.button(
                text,
                lambda c=cat: self.choose_category(c),
                "secondary",
                size_hint_y=None,
                height=height,
            )
            if cat == self.category:
                b.role = "primary"
            self.categories.add_widget(b)
        self.items.clear_widgets()
        self.item_buttons = {}
        searching = bool(self.keypad.value.strip())
        found = search(catalog, self.keypad.value, None if searching else self.category)
        for item in found:
            b = self.button(
                lambda i=item: self.k.t.pick(i.name_zh, i.name_en),
                lambda i=item: self.k.go("item", code=i.code),
                "key",
                size_hint_y=None,
                height=max(110, self.k.theme.touch_px(self.k.dpi)),
            )
            self.item_buttons[item.code] = b
            self.items.add_widget(b)
        if not found:
            self.items.add_widget(self.label("catalog.none_found", tone="muted"))
        self.k.style(self.categories)
        self.k.style(self.items)

    def retranslate(self) -> None:
        super().retranslate()
        self.keypad.retranslate()
        self.refresh()

    def wipe(self) -> None:
        self.keypad.clear()
        self.category = self.first_category
        if self.search_open:
            self.toggle_search()
        self.refresh()


class ItemScreen(KioskScreen):
    """One item's guide: materials, promised working days, fees, pickup rules."""

    title_key = ""

    def build(self) -> None:
        self.name_label = self.label("", "title")
        self.body.add_widget(self.name_label)
        self.details = BoxLayout(orientation="vertical", spacing=8)
        self.body.add_widget(self.details)
        self.error = self.label("", tone="danger")
        self.body.add_widget(self.error)
        self.item: ServiceItem | None = None
        self.apply_button = self.button("item.apply", self.apply)

    def enter(self, code: str = "", **kw: object) -> None:
        # A bundle swaps the catalog in on the link's thread, and may have dropped the item
        # since the list was drawn: the citizen is told, and goes back to a list drawn afresh.
        self.item = next((i for i in self.k.node.parts.catalog if i.code == code), None)
        self.unsay(self.error)
        if self.item is None:
            self.unsay(self.name_label)
            self.details.clear_widgets()
            self.say(self.error, "item.unavailable")
            self.nav_buttons(self.button("nav.back", lambda: self.k.go("catalog"), "secondary"))
            self.k.style(self.page)
            return
        self.render()

    def render(self) -> None:
        item = self.item
        if item is None:
            return
        t = self.k.t
        self.say(self.name_label, lambda: t.pick(item.name_zh, item.name_en))
        self.details.clear_widgets()
        lines = [
            self.label(lambda: f"{t('item.code')}: {item.code}", "hint", tone="muted"),
            self.label(lambda: t("item.promised_days", days=item.promised_days)),
            self.label("item.materials"),
        ]
        for spec in item.materials:
            need = "item.required" if spec.required else "item.optional"
            lines.append(
                self.label(
                    lambda s=spec, n=need: (
                        "• "
                        + t("item.material_line", name=t.pick(s.name_zh, s.name_en), pages=s.pages)
                        + f" ({t(n)})"
                    ),
                    "hint",
                )
            )
        lines.append(self.label(lambda: t("item.legal_days", days=item.legal_days), "hint"))
        lines.append(
            self.label(
                lambda: (
                    t("item.fee_free")
                    if item.free
                    # The basis (收费依据) is the catalog's own words, shown as written.
                    else t("item.fee", fee=item.fee_yuan)
                    + (f" ({item.fee_basis})" if item.fee_basis else "")
                )
            )
        )
        if item.originals_size:
            lines.append(self.label("item.originals"))
        if item.pickup_needs_identity:
            lines.append(self.label("item.pickup_identity"))
        for w in lines:
            self.details.add_widget(w)
        self.details.add_widget(Widget())
        applying = self.k.submission is not None and self.k.submission.step == Step.ITEM
        back = self.button("nav.back", lambda: self.k.go("catalog"), "secondary")
        self.nav_buttons(back, self.apply_button) if applying else self.nav_buttons(back)
        self.k.style(self.page)

    def apply(self) -> None:
        flow = self.k.submission
        if flow is None or self.item is None:
            return
        try:
            flow.choose_item(self.item.code)
        except FlowError:
            self.say(self.error, "item.unavailable")
            return
        self.k.go("phone")

    def retranslate(self) -> None:
        super().retranslate()
        self.render()

    def wipe(self) -> None:
        self.item = None
        self.unsay(self.name_label)
        self.details.clear_widgets()
        self.unsay(self.error)
