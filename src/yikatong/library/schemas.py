"""Request and response bodies of the library API (responses built from the service views)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from yikatong.core.money import MAX_AMOUNT_FEN
from yikatong.core.response_models import response_model
from yikatong.library.protocols import Fee, Hold, Item, LibraryOutcome, Loan, PatronAccount
from yikatong.library.service import ItemRow, LoanRow, MyLibrary, PatronView, ReaderView

Barcode = Field(min_length=1, max_length=32, description="the item's barcode / 图书条码")
Identifier = Field(min_length=1, max_length=512,
                   description="card number, social security number, reader number or e-card QR "
                               "code / 社保卡号、社会保障号码、读者证号或电子社保卡二维码")

ReaderOut = response_model(ReaderView, name="LibraryReaderOut")
ItemOut = response_model(ItemRow, name="LibraryItemOut")
LoanRowOut = response_model(LoanRow, name="LibraryLoanRowOut")
LoanOut = response_model(Loan, name="LibraryLoanOut")
HoldOut = response_model(Hold, name="LibraryHoldOut")
FeeOut = response_model(Fee, name="LibraryFeeOut")
PatronItemOut = response_model(Item, name="LibraryPatronItemOut")
AccountOut = response_model(PatronAccount, name="LibraryAccountOut", properties=("fees_owed_fen",),
                            nested={"loans": list[LoanOut], "holds": list[HoldOut],
                                    "fees": list[FeeOut], "blocks": list[str]})
OutcomeOut = response_model(LibraryOutcome, name="LibraryOutcomeOut", exclude=("details",),
                            nested={"item": PatronItemOut | None, "fee": FeeOut | None})
PatronOut = response_model(PatronView, name="LibraryPatronOut",
                           nested={"account": AccountOut | None, "blocks": list[str]})
MyLibraryOut = response_model(MyLibrary, name="MyLibraryOut",
                              nested={"reader": ReaderOut | None, "account": AccountOut | None,
                                      "blocks": list[str]})


class ItemIn(BaseModel):
    barcode: str = Barcode
    title: str = Field(min_length=1, max_length=200)
    author: str = Field(default="", max_length=120)
    call_no: str = Field(default="", max_length=64)
    location: str = Field(default="", max_length=64)
    price_fen: int = Field(default=0, ge=0, le=MAX_AMOUNT_FEN)


class CheckoutIn(BaseModel):
    patron: str = Identifier
    barcode: str = Barcode


class CheckinIn(BaseModel):
    barcode: str = Barcode
    location: str = Field(default="", max_length=64)


class RenewIn(BaseModel):
    barcode: str = Barcode


class FeeIn(BaseModel):
    patron: str = Identifier
    amount_fen: int = Field(ge=1, le=MAX_AMOUNT_FEN)
    reason: str = Field(pattern=r"^(lost|damaged|overdue)$", max_length=16)
    item_barcode: str | None = Field(default=None, min_length=1, max_length=32)


class FeePaymentIn(BaseModel):
    patron: str = Identifier
    amount_fen: int = Field(ge=1, le=MAX_AMOUNT_FEN)
    transaction_id: str = Field(min_length=1, max_length=64,
                                description="the desk's payment id: the same id again is recorded once / 缴费流水号")
    fee_id: str | None = Field(default=None, min_length=1, max_length=32)
