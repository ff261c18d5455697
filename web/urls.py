from django.contrib.auth import views as auth_views
from django.urls import path

from web import health, scoring_views, views

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    # Browsers ask for /favicon.ico whatever the page says (feeds, bookmarks, PDFs): the app's icon.
    path("favicon.ico", health.favicon),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("", views.home, name="home"),
    path("leads/", views.lead_list, name="lead_list"),
    path("leads/new/", views.lead_create, name="lead_create"),
    path("leads/<int:lead_id>/", views.lead_detail, name="lead_detail"),
    path("leads/<int:lead_id>/edit/", views.lead_edit, name="lead_edit"),
    path("leads/<int:lead_id>/activities/", views.lead_activity_create, name="lead_activity_create"),
    path("leads/<int:lead_id>/events/", scoring_views.lead_event_create, name="lead_event_create"),
    path("leads/<int:lead_id>/transition/", views.lead_transition, name="lead_transition"),
    path("leads/<int:lead_id>/assign/", views.lead_assign, name="lead_assign"),
    path("leads/<int:lead_id>/tasks/<int:activity_id>/complete/", views.task_complete, name="task_complete"),
]
