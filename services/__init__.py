"""The five event-sourced services: referrals, assessments, deliveries, visits, complications.

Each is an eventsourcing Application in its own folder (domainmodel.py, application.py, tests);
`carecoord.bootstrap.Services` builds all five from configuration.
"""
