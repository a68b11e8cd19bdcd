"""Every screen of the kiosk by name, in the order a reviewer walks through them."""

from __future__ import annotations

from terminal.ui.screens.catalog import CatalogScreen, ItemScreen
from terminal.ui.screens.home import ErrorScreen, HomeScreen
from terminal.ui.screens.identity import CardScreen, FaceScreen, MrzScreen
from terminal.ui.screens.materials import MaterialsScreen
from terminal.ui.screens.out_of_service import OutOfServiceScreen
from terminal.ui.screens.pickup import PickupCodeScreen, PickupOpenScreen
from terminal.ui.screens.query import QueryScreen
from terminal.ui.screens.receipt import RatingScreen, ReceiptScreen
from terminal.ui.screens.scan import ScanScreen
from terminal.ui.screens.staff import StaffLoginScreen, StaffScreen
from terminal.ui.screens.submission import DepositScreen, PhoneScreen, ReviewScreen
from terminal.ui.screens.supplement import SupplementScreen
from terminal.ui.screens.usb_import import UsbImportScreen

SCREENS = {
    "home": HomeScreen,
    "card": CardScreen,
    "mrz": MrzScreen,
    "face": FaceScreen,
    "catalog": CatalogScreen,
    "item": ItemScreen,
    "phone": PhoneScreen,
    "materials": MaterialsScreen,
    "scan": ScanScreen,
    "usb_import": UsbImportScreen,
    "deposit": DepositScreen,
    "review": ReviewScreen,
    "receipt": ReceiptScreen,
    "rating": RatingScreen,
    "pickup_code": PickupCodeScreen,
    "pickup_open": PickupOpenScreen,
    "query": QueryScreen,
    "supplement": SupplementScreen,
    "staff_login": StaffLoginScreen,
    "staff": StaffScreen,
    "error": ErrorScreen,
    "out_of_service": OutOfServiceScreen,
}
