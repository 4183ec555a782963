"""Excel and PDF rendering shared by every domain: what leaves Catena as a file.

`xlsx` writes workbooks whose text can never run as a formula; `pdf` renders HTML templates
with WeasyPrint through a fetcher that reaches only the application's own static files.
"""
