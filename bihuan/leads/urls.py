"""The loop's pages: the bureau's (triage, leads, joint operations) and the departments'."""

from bihuan.leads import urls_bureau, urls_orders

app_name = "leads"

urlpatterns = urls_bureau.urlpatterns + urls_orders.urlpatterns
