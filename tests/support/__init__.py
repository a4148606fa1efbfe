"""Test support: servers, browsers and store fixtures shared by the test packages."""
