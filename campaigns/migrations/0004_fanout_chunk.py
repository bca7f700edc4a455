import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0003_pricing'),
    ]

    operations = [
        migrations.CreateModel(
            name='FanoutChunk',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('after_contact_id', models.BigIntegerField()),
                ('last_contact_id', models.BigIntegerField()),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('done', 'Done'), ('failed', 'Failed')], default='pending', max_length=10)),
                ('messages', models.PositiveIntegerField(default=0)),
                ('skipped', models.PositiveIntegerField(default=0)),
                ('sms_parts', models.PositiveIntegerField(default=0)),
                ('cost', models.DecimalField(decimal_places=5, default=0, max_digits=14)),
                ('error', models.TextField(blank=True, default='')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('sending', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='fanout_chunks', to='campaigns.sending')),
            ],
            options={
                'ordering': ['sending', 'after_contact_id'],
                'constraints': [models.UniqueConstraint(fields=('sending', 'after_contact_id'), name='uniq_fanout_chunk_range')],
            },
        ),
    ]
