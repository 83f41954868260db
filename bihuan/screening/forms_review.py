"""Forms of the review pages: the queue's filters and the reasons of a return or a rejection.

Forms only parse what was posted; which inspection or institution may be named comes from the
selectors the view uses, and the services decide the rest.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from bihuan.screening.review_services import REASON_LIMIT


class ReviewFilterForm(forms.Form):
    round = forms.IntegerField(label=_("Round"), min_value=1, required=False)
    place = forms.RegexField(label=_("Place"), regex=r"^\d{6}(\d{6})?$", required=False)

    def values(self) -> dict[str, str]:
        """The filters that were given and valid (an invalid one is ignored, not an error)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {k: str(v).strip() for k, v in data.items() if v and k not in self.errors}


class ReturnForm(forms.Form):
    reason = forms.CharField(
        label=_("What to correct"),
        max_length=REASON_LIMIT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Why it is not registered"),
        max_length=REASON_LIMIT,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
