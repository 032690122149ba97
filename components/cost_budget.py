"""A monthly cost budget with e-mail alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import aws_budgets as budgets
from constructs import Construct

FORECAST_PERCENT = 100


class CostBudget(Construct):
    """A monthly cost budget over the resources tagged ``scope_tag``.

    Guarantees: one e-mail alert per threshold of actual spend, and one when
    the month's forecast passes the limit; the budget carries the cost tags.
    The tag must be activated as a cost allocation tag in the Billing console
    for the filter to see costs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        limit_usd: int,
        thresholds_percent: Sequence[int],
        emails: Sequence[str],
        scope_tag: tuple[str, str],
        resource_tags: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        subscribers = [budgets.CfnBudget.SubscriberProperty(subscription_type="EMAIL", address=a) for a in emails]

        def notify(kind: str, percent: int) -> budgets.CfnBudget.NotificationWithSubscribersProperty:
            return budgets.CfnBudget.NotificationWithSubscribersProperty(
                notification=budgets.CfnBudget.NotificationProperty(
                    notification_type=kind,
                    comparison_operator="GREATER_THAN",
                    threshold=percent,
                    threshold_type="PERCENTAGE",
                ),
                subscribers=subscribers,
            )

        self.budget = budgets.CfnBudget(
            self,
            "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=limit_usd, unit="USD"),
                cost_filters={"TagKeyValue": [f"user:{scope_tag[0]}${scope_tag[1]}"]},
            ),
            notifications_with_subscribers=[
                *(notify("ACTUAL", p) for p in sorted(thresholds_percent)),
                notify("FORECASTED", FORECAST_PERCENT),
            ],
            resource_tags=[budgets.CfnBudget.ResourceTagProperty(key=k, value=v) for k, v in resource_tags.items()],
        )
