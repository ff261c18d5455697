from django.urls import path

from web import intake_views

urlpatterns = [
    path("f/<slug:slug>/", intake_views.capture_form_page, name="capture_form"),
    path("f/<slug:slug>/embed/", intake_views.capture_form_embed, name="capture_form_embed"),
]
