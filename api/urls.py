from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from api import views

v1 = [
    path("leads/", views.LeadListView.as_view(), name="lead-list"),
    path("leads/<int:lead_id>/", views.LeadDetailView.as_view(), name="lead-detail"),
    path("leads/<int:lead_id>/transition/", views.LeadTransitionView.as_view(), name="lead-transition"),
    path("leads/<int:lead_id>/timeline/", views.LeadTimelineView.as_view(), name="lead-timeline"),
    path("leads/<int:lead_id>/score/", views.LeadScoreView.as_view(), name="lead-score"),
    path("events/", views.EventsView.as_view(), name="events"),
    path("event-types/", views.EventTypesView.as_view(), name="event-types"),
    path("reports/funnel/", views.FunnelView.as_view(), name="report-funnel"),
]

app_name = "api"
urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[]), name="schema"),
    path("docs/", views.SwaggerDocsView.as_view(url_name="api:schema", permission_classes=[]), name="docs"),
    path("redoc/", views.RedocDocsView.as_view(url_name="api:schema", permission_classes=[]), name="redoc"),
    re_path(r"^[\s\S]*$", views.NotFoundView.as_view(), name="not-found"),  # any character, newlines too
]
